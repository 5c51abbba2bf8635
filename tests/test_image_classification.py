"""Image classification: real image files written here in every format and mode the page takes,
broken and hostile ones, the PyTorch recipe's own client against a real server, the CLI, and
models saved with save_pretrained."""

import csv
import io
import json
import random
import resource
import struct
import zlib
from pathlib import Path

import pytest
import requests
from helpers import run_cli
from PIL import Image
from train_image_demo_model import draw_shape  # the demo model's own drawing code (scripts/)

from demo_app import DeployArguments, create_app, load_predictor, make_inference_fn, serve
from demo_app.tasks.image_decoding import ImageError, decode_image

ROOT = Path(__file__).resolve().parent.parent


def shape(kind, seed=1):
    return draw_shape(kind, random.Random(seed))


def encoded(picture, format, **options):
    buffer = io.BytesIO()
    picture.save(buffer, format, **options)
    return buffer.getvalue()


@pytest.fixture(scope="module")
def image_predictor():
    return load_predictor(DeployArguments(task="image-classification"), verbose=False)


@pytest.fixture(scope="module")
def image_server(image_predictor):
    handle = serve(create_app(image_predictor), port=0, quiet=True)
    yield handle
    handle.stop()


# -- decoding ---------------------------------------------------------------------------------

def every_format_and_mode():
    star = shape("star")
    animated = io.BytesIO()  # a GIF whose first frame is the star, the second a circle
    star.save(animated, "GIF", save_all=True, append_images=[shape("circle")], duration=100)
    rgba = star.convert("RGBA")
    rgba.putalpha(255)
    return {
        "jpeg": encoded(star, "JPEG", quality=95),
        "png": encoded(star, "PNG"),
        "webp": encoded(star, "WEBP", quality=95),
        "gif (first frame)": animated.getvalue(),
        "bmp": encoded(star, "BMP"),
        "grey png": encoded(star.convert("L"), "PNG"),
        "palette png": encoded(star.convert("P", palette=Image.ADAPTIVE), "PNG"),
        "rgba png": encoded(rgba, "PNG"),
        "cmyk jpeg": encoded(star.convert("CMYK"), "JPEG", quality=95),
        "16-bit png": encoded(star.convert("L").point(lambda v: v * 256, "I").convert("I;16"), "PNG"),
    }


@pytest.mark.parametrize("name, data", list(every_format_and_mode().items()))
def test_every_format_and_mode_is_read_as_rgb_and_classified(image_predictor, name, data):
    picture = decode_image(data, name)
    assert picture.mode == "RGB"
    assert picture.size == (96, 96)
    assert make_inference_fn(image_predictor)(data)["class_name"] == "star", name


def test_exif_orientation_is_applied():
    upright = shape("triangle").crop((0, 0, 96, 60))  # 96 wide, 60 tall
    sideways = upright.transpose(Image.Transpose.ROTATE_90)  # as a phone stores a portrait shot
    exif = Image.Exif()
    exif[0x0112] = 6  # "rotate 90 clockwise to view": undoes the transpose above
    decoded = decode_image(encoded(sideways, "PNG", exif=exif.tobytes()))
    assert decoded.size == (96, 60)
    assert decoded.tobytes() == upright.tobytes()


def png_bomb(width, height):
    """A valid greyscale PNG of width x height zero pixels, built without allocating them."""
    def chunk(kind, data):
        return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data))
    compressor = zlib.compressobj(9)
    row = b"\x00" * (width + 1)
    idat = b"".join(compressor.compress(row) for _ in range(height)) + compressor.flush()
    return (b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", struct.pack(">IIBBBBB", width, height, 8, 0, 0, 0, 0))
            + chunk(b"IDAT", idat) + chunk(b"IEND", b""))


@pytest.fixture(scope="module")
def bomb():
    return png_bomb(20_000, 20_000)


def test_a_decompression_bomb_is_refused_without_decoding_it(bomb):
    before = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    with pytest.raises(ImageError) as error:
        decode_image(bomb, "bomb.png")
    assert error.value.status == 413
    assert "pixels" in str(error.value)
    assert resource.getrusage(resource.RUSAGE_SELF).ru_maxrss - before < 50_000  # kB: no spike


BAD_FILES = {
    "zero-byte.jpg": (b"", "is empty"),
    "text.jpg": ("이것은 사진이 아닙니다".encode(), "is not an image"),
    "truncated.png": (encoded(shape("circle"), "PNG")[:400], "truncated or damaged"),
    "truncated.jpg": (encoded(shape("circle"), "JPEG")[:300], "truncated or damaged"),
    "tiff.tif": (encoded(shape("circle"), "TIFF"), "TIFF image; send JPEG"),
}


@pytest.mark.parametrize("name", list(BAD_FILES))
def test_broken_files_are_a_clear_error(name):
    data, words = BAD_FILES[name]
    with pytest.raises(ImageError) as error:
        decode_image(data, name)
    assert words in str(error.value)
    assert error.value.status == 400


# -- HTTP ---------------------------------------------------------------------------------------

def test_the_recipes_own_client_works_unchanged(image_server, tmp_path):
    path = tmp_path / "cat.jpg"
    path.write_bytes(encoded(shape("circle"), "JPEG"))
    # From "Deploying PyTorch in Python via a REST API with Flask", as written:
    resp = requests.post(image_server.url + "/predict", files={"file": open(path, "rb")})
    assert resp.json()["class_id"] == "shape-circle"
    assert resp.json()["class_name"] == "circle"
    bars = resp.json()["probabilities"]
    assert len(bars) == 5
    assert bars[0]["label"] == "circle"
    assert bars[0]["width"].endswith("%")


def test_several_files_base64_and_api(image_server):
    url = image_server.url
    files = [("file", (f"{kind}.png", encoded(shape(kind), "PNG"))) for kind in ("circle", "square", "cross")]
    answer = requests.post(url + "/predict", files=files, timeout=30).json()
    assert [p["class_name"] for p in answer["predictions"]] == ["circle", "square", "cross"]
    too_many = [("file", (f"{i}.png", encoded(shape("circle"), "PNG"))) for i in range(9)]
    response = requests.post(url + "/predict", files=too_many, timeout=30)
    assert response.status_code == 413
    assert "limit is 8" in response.json()["error"]
    import base64

    data = base64.b64encode(encoded(shape("triangle"), "WEBP")).decode()
    assert requests.post(url + "/predict", json={"image": data}, timeout=30).json()["class_name"] == "triangle"
    assert requests.post(url + "/predict", json={"inputs": [data, "data:image/webp;base64," + data]},
                         timeout=30).json()["predictions"][1]["class_name"] == "triangle"
    assert requests.post(url + "/api", files={"file": ("x.bmp", encoded(shape("star"), "BMP"))},
                         timeout=30).json()["class_name"] == "star"
    bad = requests.post(url + "/predict", json={"image": "%%%"}, timeout=30)
    assert bad.status_code == 400
    assert "base64" in bad.json()["error"]


@pytest.mark.parametrize("name", list(BAD_FILES))
def test_bad_files_get_a_4xx_and_the_server_goes_on(image_server, name):
    data, words = BAD_FILES[name]
    response = requests.post(image_server.url + "/predict", files={"file": (name, data)}, timeout=30)
    assert response.status_code == 400
    assert words in response.json()["error"]
    ok = requests.post(image_server.url + "/predict", files={"file": ("c.png", encoded(shape("circle"), "PNG"))})
    assert ok.status_code == 200


def test_the_bomb_and_a_huge_upload_get_413(image_server, bomb):
    response = requests.post(image_server.url + "/predict", files={"file": ("bomb.png", bomb)}, timeout=60)
    assert response.status_code == 413
    assert "pixels" in response.json()["error"]
    huge = requests.post(image_server.url + "/predict", files={"file": ("big.jpg", b"\xff" * (33 * 1024 * 1024))},
                         timeout=60)
    assert huge.status_code == 413
    assert "error" in huge.json()
    no_file = requests.post(image_server.url + "/predict", files={"other": ("a.png", b"x")}, timeout=30)
    assert no_file.status_code == 400
    assert '"file"' in no_file.json()["error"]


# -- models saved with save_pretrained -------------------------------------------------------

def save_tiny_vit(directory: Path):
    import torch
    from transformers import ViTConfig, ViTForImageClassification, ViTImageProcessor

    torch.manual_seed(0)
    config = ViTConfig(image_size=32, patch_size=8, hidden_size=32, num_hidden_layers=1, num_attention_heads=2,
                       intermediate_size=64, num_labels=3, id2label={0: "apple", 1: "pear", 2: "plum"},
                       label2id={"apple": 0, "pear": 1, "plum": 2}, architectures=["ViTForImageClassification"])
    ViTForImageClassification(config).save_pretrained(directory)
    ViTImageProcessor(size={"height": 32, "width": 32}).save_pretrained(directory)
    return directory


def test_a_save_pretrained_folder_is_recognised_and_labelled_from_its_config(tmp_path):
    folder = save_tiny_vit(tmp_path / "my-vit")
    predictor = load_predictor(DeployArguments(pretrained_model_name=str(folder)), verbose=False)
    assert predictor.task.name == "image-classification"
    assert list(predictor.labels) == ["apple", "pear", "plum"]
    answer = make_inference_fn(predictor)(encoded(shape("circle"), "PNG"))
    assert answer["class_name"] in ("apple", "pear", "plum")
    assert answer["class_id"] in ("0", "1", "2")
    # an index file in the recipe's format gives WordNet-style ids and names
    (folder / "imagenet_class_index.json").write_text(json.dumps(
        {"0": ["n07739125", "Granny_Smith"], "1": ["n07767847", "pear"], "2": ["n07768694", "plum"]}))
    predictor = load_predictor(DeployArguments(pretrained_model_name=str(folder)), verbose=False)
    assert [label.class_id for label in predictor.labels] == ["n07739125", "n07767847", "n07768694"]
    assert predictor.labels[0] == "Granny_Smith"


def test_pickled_weights_and_text_models_are_refused(tmp_path):
    import torch
    from safetensors.torch import load_file

    from demo_app import CheckpointError

    folder = save_tiny_vit(tmp_path / "pickled")  # then as older transformers saved it: a pickle
    torch.save(load_file(folder / "model.safetensors"), folder / "pytorch_model.bin")
    (folder / "model.safetensors").unlink()
    with pytest.raises(CheckpointError, match="no model.safetensors"):
        load_predictor(DeployArguments(pretrained_model_name=str(folder), task="image-classification"),
                        verbose=False)
    text_model = ROOT / "demo_app" / "demo_model" / "pretrained"
    with pytest.raises(CheckpointError, match="not an image-classification model"):
        load_predictor(DeployArguments(pretrained_model_name=str(text_model), task="image-classification"),
                        verbose=False)


# -- the command line -----------------------------------------------------------------------

def test_cli_images_folders_and_a_csv_of_paths(tmp_path):
    for kind in ("circle", "star"):
        (tmp_path / "photos" / kind).mkdir(parents=True)
        for seed in range(3):
            shape(kind, seed + 10).save(tmp_path / "photos" / kind / f"{seed}.jpg")
    (tmp_path / "photos" / "star" / "notes.jpg").write_text("not a picture")
    predictor = load_predictor(DeployArguments(task="image-classification"), verbose=False)
    expected = {path.relative_to(tmp_path / "photos").as_posix(): make_inference_fn(predictor)(path)["class_name"]
                for path in sorted((tmp_path / "photos").glob("*/[0-9].jpg"))}
    result = run_cli("predict", "--task", "image-classification", str(tmp_path / "photos" / "circle" / "0.jpg"))
    assert result.returncode == 0, result.stderr
    assert json.loads(result.stdout)["class_name"] == expected["circle/0.jpg"]

    result = run_cli("predict", "--task", "image-classification", "--input", str(tmp_path / "photos"),
                     "--output", str(tmp_path / "out.csv"))
    assert result.returncode == 0, result.stderr
    rows = list(csv.DictReader(open(tmp_path / "out.csv", encoding="utf-8")))
    assert len(rows) == 7
    assert rows[-1]["image"] == "star/notes.jpg"
    assert "is not an image" in rows[-1]["error"]
    assert {row["image"]: row["class_name"] for row in rows[:-1]} == expected
    right = sum(row["label"] == row["class_name"] for row in rows[:-1])  # subfolders are the gold labels
    assert f"accuracy: {right / 6:.4f} ({right} of 6 labelled rows)" in result.stderr

    (tmp_path / "list.csv").write_text("path,label\nphotos/circle/1.jpg,circle\nphotos/missing.jpg,star\n")
    result = run_cli("predict", "--task", "image-classification", "--input", str(tmp_path / "list.csv"))
    rows = list(csv.DictReader(io.StringIO(result.stdout)))
    assert rows[0]["class_name"] == expected["circle/1.jpg"]
    assert "no such image file" in rows[1]["error"]


# -- the page, in a real browser --------------------------------------------------------------

@pytest.mark.browser
def test_a_phone_uploads_a_photo_and_sees_a_preview_and_bars(browser, image_predictor, image_server, artifacts_dir):
    context = browser.new_context(viewport={"width": 390, "height": 844}, locale="ko-KR")
    page = context.new_page()
    try:
        page.goto(image_server.url + "/")
        assert page.get_attribute("#camera", "capture") == "environment"  # a phone offers its camera
        name = "<img src=x onerror=\"window.__xss='name'\">.png"
        page.set_input_files("#image", files=[{"name": name, "mimeType": "image/png",
                                               "buffer": encoded(shape("cross"), "PNG")}])
        page.wait_for_function("() => !document.getElementById('preview').hidden && "
                               "document.getElementById('preview').naturalWidth === 96")
        page.click("#submit")
        page.wait_for_function("() => !document.getElementById('result').hidden")
        expected = make_inference_fn(image_predictor)(encoded(shape("cross"), "PNG"))
        assert page.text_content("#result-label") == expected["class_name"]
        assert page.text_content("#result-class-id") == f"({expected['class_id']})"
        assert page.text_content("#result-image") == name  # the file name, as text
        assert page.eval_on_selector_all(".bar-row", "rows => rows.length") == 5
        assert page.evaluate("() => window.__xss") is None
        assert page.text_content("#history li").startswith("<img")
        page.screenshot(path=str(artifacts_dir / "page-image-phone.png"), full_page=True)

        page.set_input_files("#image", files=[{"name": "notes.jpg", "mimeType": "image/jpeg",
                                               "buffer": b"not a picture"}])
        page.click("#submit")
        page.wait_for_function("() => !document.getElementById('error').hidden")
        assert "is not an image" in page.text_content("#error")
    finally:
        context.close()


# -- found by a hostile-visitor trial ------------------------------------------------------------

# The oldest Pillow warns, by name, as the test writes the broken block it means to send.
@pytest.mark.filterwarnings("ignore:Corrupt EXIF data:UserWarning")
def test_a_broken_exif_block_is_ignored(image_server):
    data = bytearray(encoded(shape("circle"), "JPEG", exif=b"Exif\x00\x00MM\x00*\x00\x00\x00\x08\x00\x05\x01\x12"))
    response = requests.post(image_server.url + "/predict", files={"file": ("exif.jpg", bytes(data))}, timeout=30)
    assert response.status_code == 200, response.text


def test_many_large_transparent_palette_images_do_not_exhaust_memory(image_server):
    """8 palette PNGs of 6324x6324 (40 megapixels each, 5 KB each) in one request, 2 requests at
    once: decoded one at a time and shrunk at once, so the peak stays within a few hundred MB."""
    import threading

    big = Image.new("P", (6324, 6324), 0)
    big.info["transparency"] = 0
    data = encoded(big, "PNG", transparency=0)
    before = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    statuses = []

    def post():
        files = [("file", (f"{i}.png", data)) for i in range(8)]
        statuses.append(requests.post(image_server.url + "/predict", files=files, timeout=120).status_code)

    threads = [threading.Thread(target=post) for _ in range(2)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert statuses == [200, 200]
    assert resource.getrusage(resource.RUSAGE_SELF).ru_maxrss - before < 500_000  # kB


def test_wrapped_and_url_safe_base64(image_server):
    import base64

    raw = encoded(shape("square"), "PNG")
    wrapped = "\n".join(base64.b64encode(raw).decode()[i:i + 76] for i in range(0, len(base64.b64encode(raw)), 76))
    for text in (wrapped, base64.urlsafe_b64encode(raw).decode()):
        response = requests.post(image_server.url + "/predict", json={"image": text}, timeout=30)
        assert response.status_code == 200, response.text


def test_chunked_bodies_are_spooled_to_disk_not_kept_in_memory():
    from demo_app.serving.waitress_setup import _LimitedBody

    body = _LimitedBody(32 << 20)
    for _ in range(3):
        body.append(b"x" * (1 << 20))
    assert body.kept._rolled  # past 1 MiB it lives in a temporary file
    assert len(body.getfile().read()) == 3 << 20
