"""Write notebooks/deploy_generation_colab.ipynb from the QA notebook's cells (install, Drive,
settings, load, inference, serve, API, stop), changed for nlpbook's sentence-generation chapter,
and run it so that nbval has outputs to compare with.

    python scripts/make_generation_notebook.py
"""

import notebook_maker

notebook = notebook_maker.read("deploy_qa_colab.ipynb")
cells = notebook.cells
cells[0].source = """# 문장 생성 모델 웹 데모 만들기 (Deploy a KoGPT2 sentence generation demo)

<a href="https://colab.research.google.com/github/nlpbook-demo/demo_app/blob/main/notebooks/deploy_generation_colab.ipynb" target="_parent"><img src="https://colab.research.google.com/assets/colab-badge.svg" alt="Open In Colab"/></a>

nlpbook의 문장 생성 장에서 ratsnlp로 파인튜닝한 KoGPT2 모델(NSMC 리뷰를 `긍정 ...`/`부정 ...`으로 학습)을 웹 데모로 공개합니다. 프롬프트를 넣으면 모델이 쓰는 글이 토큰마다 바로바로 페이지에 나타나고, 멈추기 버튼으로 언제든 멈출 수 있습니다. 셀을 위에서부터 차례로 실행하세요. 어떤 셀이든 다시 실행해도 안전합니다.

*Turn the KoGPT2 model you fine-tuned with ratsnlp in nlpbook's sentence-generation chapter into a public web demo: the text appears on the page as the model writes it, and a stop button stops it. Run the cells top to bottom; any cell can be run again safely.*

Colab 밖(노트북 PC, CI)에서도 그대로 실행됩니다: Google Drive가 없으면 함께 제공되는 데모 모델(리뷰를 쓰는 작은 GPT-2)을 쓰고, ngrok 토큰이 없으면 로컬에서만 서비스합니다.
*Outside Colab it runs unchanged: without Drive it uses the bundled demo model (a small review-writing GPT-2), without an ngrok token it serves locally only.*"""
cells[5].source = """## 3. 설정 (Settings)

- `pretrained_model_name`: 파인튜닝에 쓴 프리트레인 모델 (토크나이저와 구조). 책과 같이 `skt/kogpt2-base-v2`.
- `downstream_model_dir`: 체크포인트 폴더. `epoch=N-val_loss=X.XX.ckpt` 중 `val_loss`가 가장 낮은 파일을 씁니다. 비워 두면 함께 제공되는 데모 모델을 씁니다(페이지에도 데모 모델이라고 표시됩니다). `My Drive`와 `MyDrive`는 어느 쪽으로 써도 됩니다.
- `history_path`: 방문자가 입력한 프롬프트와 설정, 생성된 글을 기록할 SQLite 파일. 비워 두면 아무것도 기록하지 않습니다.
- `tunnel`: 공개 URL 방식. `ngrok`은 토큰이 필요합니다(Colab 왼쪽 열쇠 아이콘의 Secrets에 `NGROK_AUTHTOKEN`으로 저장하세요. 셀에 직접 쓰지 마세요). `ssh`는 계정 없이 공개 URL을 만듭니다.

*`downstream_model_dir` empty: the bundled demo model (the page says so); `My Drive` and `MyDrive` both work. `history_path`: keeps prompts, settings and texts; empty keeps nothing. Store the ngrok token as the Colab secret `NGROK_AUTHTOKEN`, never in a cell.*"""
cells[6].source = """pretrained_model_name = "skt/kogpt2-base-v2"  #@param {type:"string"}
downstream_model_dir = "/gdrive/My Drive/nlpbook/checkpoint-generation"  #@param {type:"string"}
history_path = "/gdrive/My Drive/nlpbook/demo_history.sqlite"  #@param {type:"string"}
tunnel = "ngrok"  #@param ["ngrok", "ssh", "none"]
port = 5000  #@param {type:"integer"}"""
cells[7].source = """## 4. 모델 불러오기 (Load the model)

책의 `GenerationDeployArguments`와 같은 이름의 인자를 씁니다. 체크포인트를 `weights_only=True`로 읽고(코드를 실행하는 파일은 거부), 토크나이저는 책처럼 `eos_token="</s>"`로 불러옵니다. 체크포인트 없이(`downstream_model_dir` 비우고 `pretrained_model_name`만) 주면 프리트레인 모델 자체를 서비스합니다. 서버가 이미 실행 중이면 멈춥니다: 새 모델을 서비스하려면 서버 셀을 다시 실행하세요.
*The book's `GenerationDeployArguments` names. The checkpoint is read weights-only; the tokenizer is loaded as the book loads it (`eos_token="</s>"`). A running server is stopped: run the server cell again to serve the new model.*"""
cells[8].source = """from demo_app import GenerationDeployArguments, in_colab, load_predictor, resolve_path

if "server" in globals() and server.running:  # a re-run: the page must not go on serving the old model
    server.stop()
    print("Stopped the running server: run 'Start the web server' again to serve the model loaded here.")
if not downstream_model_dir:
    print("No checkpoint given: the bundled demo model is used, and the page says so.")
    args = GenerationDeployArguments()
elif not in_colab() and resolve_path(downstream_model_dir) is None:
    print(f"Not in Colab, and {downstream_model_dir} is not on this machine: using the bundled demo model "
          "(the page says so).")
    args = GenerationDeployArguments()
else:  # a path that does not exist is an error that lists what is there
    args = GenerationDeployArguments(
        pretrained_model_name=pretrained_model_name,
        downstream_model_dir=downstream_model_dir,
    )
model = load_predictor(args)"""
cells[9].source = """## 5. 인퍼런스 함수 (inference_fn)

책과 같이 `inference_fn(prompt, min_length=10, max_length=20, top_p=1.0, top_k=50, repetition_penalty=1.0, no_repeat_ngram_size=0, temperature=1.0)`이 `result`(프롬프트를 포함한 전체 글)를 돌려줍니다. 새로 쓴 부분(`generated`), 토큰 수, 걸린 시간도 함께 들어 있습니다. `top_k=1`이면 늘 같은 글이 나옵니다(책의 코드와 같은 글). `seed`를 주면 샘플링도 다시 같은 글을 씁니다.
*As in the book, `inference_fn(prompt, ...)` returns `result` (the whole text, prompt included), plus the new text alone (`generated`), the token count and the time. `top_k=1` always writes the same text (the book's code's text); a `seed` makes sampling repeatable too.*"""
cells[10].source = """from demo_app import make_inference_fn

inference_fn = make_inference_fn(model)
for prompt in ("긍정 아 정말", "부정 아 정말"):
    print(inference_fn(prompt, top_k=1)["result"])
again = inference_fn("긍정 배우들 연기가", seed=7)["generated"] == inference_fn("긍정 배우들 연기가", seed=7)["generated"]
print("the same seed writes the same text:", again)"""
cells[13].source = """## 7. API 호출 (Call the API)

책의 페이지처럼 `POST /api`에 프롬프트와 설정을 문자열로 보냅니다(빈 문자열은 기본값). 글이 쓰이는 대로 받으려면 `POST /predict/stream`(server-sent events)을 쓰세요: 페이지가 그렇게 합니다.
*Like the book's page, `POST /api` takes the prompt and the settings as strings ("" for the default). To receive the text as it is written, use `POST /predict/stream` (server-sent events), as the page does.*"""
cells[14].source = """import json
import urllib.request

def call_api(path, body):
    request = urllib.request.Request(server.url + path, data=json.dumps(body).encode(),
                                     headers={"Content-Type": "application/json"})
    with urllib.request.urlopen(request, timeout=60) as response:
        return response.read().decode()

if server.running:
    book_body = {"prompt": "부정 스토리가", "min_length": "", "max_length": "", "top_p": "", "top_k": "1",
                 "repetition_penalty": "", "no_repeat_ngram_size": "", "temperature": ""}
    answer = json.loads(call_api("/api", book_body))
    print({key: answer[key] for key in ("result", "tokens", "stopped")})
    events = call_api("/predict/stream", {"prompt": "긍정 이 영화 정말", "top_k": 1})
    pieces = [json.loads(line[6:]) for line in events.splitlines() if line.startswith("data: ")]
    print(len(pieces) - 1, "pieces streamed, then:", pieces[-1]["result"]["result"])
else:
    print("The server is stopped: run the 'Start the web server' cell again.")"""
for cell in cells:
    cell.source = cell.source.replace("create_app(predictor,", "create_app(model,")
print(notebook_maker.run_and_write(notebook, "deploy_generation_colab.ipynb"))
