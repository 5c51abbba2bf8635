"""demo_app's cold start: process start to first prediction, and peak memory.

    python benchmarks/cold_start_demo_app.py PRETRAINED_DIR CHECKPOINT_DIR \
        [--max-seq-length N] [--device D] [--backend B]
"""

import sys
import time

started = time.perf_counter()

from demo_app import DeployArguments, load_predictor  # noqa: E402

options = dict(zip(sys.argv[3::2], sys.argv[4::2]))
classifier = load_predictor(DeployArguments(pretrained_model_name=sys.argv[1], downstream_model_dir=sys.argv[2],
                                             max_seq_length=int(options.get("--max-seq-length", 128)),
                                             device=options.get("--device", "auto"),
                                             backend=options.get("--backend", "auto")),
                             verbose=False)
first_input = {  # the task is recognised from the checkpoint (its folder's name, label map or head)
    "pair-classification": ("나는 밥을 먹었다", "나는 식사를 했다"),
    "qa": ("세종대왕은 언제 태어났나?", "세종대왕은 1397년에 태어났다."),
}.get(classifier.task.name, "이 영화 정말 재밌어요")
classifier.predict([first_input])
peak_kb = int(open("/proc/self/status").read().split("VmHWM:")[1].split()[0])
print(f"cold_start_s={time.perf_counter() - started:.3f} peak_rss_mb={peak_kb / 1024:.0f}")
