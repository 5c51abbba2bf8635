"""Write notebooks/deploy_image_classification_colab.ipynb from the sentiment notebook's cells
(install, Drive, settings, load, inference, serve, API, stop), changed for an image model, and
run it so that nbval has outputs to compare with.

    python scripts/make_image_notebook.py
"""

import notebook_maker

notebook = notebook_maker.read("deploy_sentiment_demo_colab.ipynb")
cells = notebook.cells
cells[0].source = """# 이미지 분류 모델 웹 데모 만들기 (Deploy an image classification demo)

<a href="https://colab.research.google.com/github/nlpbook-demo/demo_app/blob/main/notebooks/deploy_image_classification_colab.ipynb" target="_parent"><img src="https://colab.research.google.com/assets/colab-badge.svg" alt="Open In Colab"/></a>

PyTorch의 "Flask로 REST API 배포하기" 예제처럼 이미지 분류 모델을 `POST /predict`(파일 업로드)로 서비스하고, 휴대폰에서 사진을 찍어 올릴 수 있는 페이지와 공개 URL을 만듭니다. 모델은 transformers의 `save_pretrained`로 저장한 폴더(ResNet, ConvNeXt, ViT, Swin, EfficientNet ...)나 허브 이름입니다. 셀을 위에서부터 차례로 실행하세요. 어떤 셀이든 다시 실행해도 안전합니다.

*Serve an image classifier the way PyTorch's Flask REST recipe does (`POST /predict` with a file, answering `class_id` and `class_name`), with a page that takes a photo from a phone and a public URL. The model is a folder saved with transformers' `save_pretrained`, or a hub name. Run the cells top to bottom; any cell can be run again safely.*

Colab 밖(노트북 PC, CI)에서도 그대로 실행됩니다: Google Drive가 없으면 함께 제공되는 데모 모델(도형 분류기)을 쓰고, ngrok 토큰이 없으면 로컬에서만 서비스합니다.
*Outside Colab it runs unchanged: without Drive it uses the bundled demo model (a shape classifier), without an ngrok token it serves locally only.*"""
cells[5].source = """## 3. 설정 (Settings)

- `model_dir`: `save_pretrained`로 저장한 이미지 분류 모델 폴더(`config.json`, `model.safetensors`, `preprocessor_config.json`), 또는 `microsoft/resnet-50` 같은 허브 이름. 폴더에 `imagenet_class_index.json`(`{"0": ["n01440764", "tench"], ...}`)이 있으면 `class_id`와 `class_name`을 거기서 읽습니다. 비워 두면 함께 제공되는 데모 모델을 씁니다(페이지에도 데모 모델이라고 표시됩니다). `My Drive`와 `MyDrive`는 어느 쪽으로 써도 됩니다.
- `port`: 서버 포트. 다른 프로그램이 쓰고 있으면 빈 포트를 골라 알려 줍니다.
- `history_path`: 예측과 "틀렸어요" 표시를 기록할 SQLite 파일(사진은 저장하지 않고 크기만 기록합니다). 비워 두면 아무것도 기록하지 않습니다.
- `tunnel`: 공개 URL 방식. `ngrok`은 토큰이 필요합니다(Colab 왼쪽 열쇠 아이콘의 Secrets에 `NGROK_AUTHTOKEN`으로 저장하세요. 셀에 직접 쓰지 마세요). `ssh`는 계정 없이 공개 URL을 만듭니다.

*`model_dir`: a `save_pretrained` folder or a hub name; an `imagenet_class_index.json` beside the model gives `class_id`/`class_name`; empty: the bundled demo model (the page says so). `history_path`: keeps predictions and corrections (the picture's size, not the picture); empty keeps nothing. Store the ngrok token as the Colab secret `NGROK_AUTHTOKEN`, never in a cell.*"""
cells[6].source = """model_dir = "/gdrive/My Drive/image-model"  #@param {type:"string"}
history_path = "/gdrive/My Drive/image-model/demo_history.sqlite"  #@param {type:"string"}
tunnel = "ngrok"  #@param ["ngrok", "ssh", "none"]
port = 5000  #@param {type:"integer"}"""
cells[7].source = """## 4. 모델 불러오기 (Load the classifier)

`model.safetensors`만 읽고(코드를 실행할 수 있는 pickle 파일은 거부), 모델 파일에 든 코드는 실행하지 않습니다. 경로가 없으면 근처에 있는 파일을 알려 주는 오류가 납니다. 서버가 이미 실행 중이면 멈춥니다: 새 모델을 서비스하려면 서버 셀을 다시 실행하세요.
*Reads only safetensors weights and never runs code from the model's files. A path that does not exist is an error listing what is there. A running server is stopped: run the server cell again to serve the new model.*"""
cells[8].source = """from demo_app import DeployArguments, in_colab, load_predictor, resolve_path

if "server" in globals() and server.running:  # a re-run: the page must not go on serving the old model
    server.stop()
    print("Stopped the running server: run 'Start the web server' again to serve the model loaded here.")
if not model_dir:
    print("No model given: the bundled demo model is used, and the page says so.")
    args = DeployArguments(task="image-classification")
elif not in_colab() and model_dir.startswith("/") and resolve_path(model_dir) is None:
    print(f"Not in Colab, and {model_dir} is not on this machine: using the bundled demo model "
          "(the page says so).")
    args = DeployArguments(task="image-classification")
else:  # a folder that does not exist is an error that lists what is there
    args = DeployArguments(pretrained_model_name=model_dir, task="image-classification")
predictor = load_predictor(args)"""
cells[9].source = """## 5. 인퍼런스 함수 (inference_fn)

`inference_fn(image)`에 이미지 파일의 바이트(또는 `pathlib.Path`, PIL 이미지)를 넣으면 예제와 같은 `class_id`, `class_name`과 상위 5개 클래스의 확률(`probabilities`)을 돌려줍니다. 여기서는 동그라미를 하나 그려서 넣어 봅니다. 내 사진으로 해 보려면 `from google.colab import files; image_bytes = next(iter(files.upload().values()))`.
*`inference_fn(image)` takes an image file's bytes (or a `pathlib.Path`, or a PIL image) and returns the recipe's `class_id` and `class_name` plus the top-5 `probabilities`. Here it gets a drawn circle; for your own photo use `google.colab.files.upload()`.*"""
cells[10].source = """import io

from PIL import Image, ImageDraw

from demo_app import make_inference_fn

picture = Image.new("RGB", (96, 96), (240, 240, 240))
ImageDraw.Draw(picture).ellipse((20, 20, 76, 76), fill=(200, 30, 30))  # a red circle
buffer = io.BytesIO()
picture.save(buffer, "PNG")
image_bytes = buffer.getvalue()

inference_fn = make_inference_fn(predictor)
result = inference_fn(image_bytes)
print(result["class_id"], result["class_name"], result["probability"])"""
cells[13].source = """## 7. API 호출 (Call the API)

PyTorch 예제의 클라이언트 코드 그대로 `POST /predict`에 파일을 보냅니다: `requests.post(url, files={"file": ...})`.
*Sends a file to `POST /predict` with the recipe's own client code: `requests.post(url, files={"file": ...})`.*"""
cells[14].source = """import requests

def call_api(path, image):
    response = requests.post(server.url + path, files={"file": ("circle.png", image)}, timeout=30)
    return response.json()

if server.running:
    answer = call_api("/predict", image_bytes)
    print({key: answer[key] for key in ("class_id", "class_name", "prediction", "probability")})
else:
    print("The server is stopped: run the 'Start the web server' cell again.")"""
print(notebook_maker.run_and_write(notebook, "deploy_image_classification_colab.ipynb"))
