"""Write the pair demo model's corpus: Korean premise/hypothesis pairs with NLI labels.

Every sentence here was written for demo_app (no outside data set). Each pair is put together
from hand-written parts: a subject ("나는", "철수는"), an optional time and place ("어제",
"도서관에서") and one of about forty everyday events, each written out in several ways:

  - ``pos``:      the event as it happened              나는 밥을 먹었다
  - ``para``:     the same thing in other words         나는 식사를 했다          (entailment)
  - ``neg``:      the event denied                      나는 밥을 먹지 않았다      (contradiction)
  - ``para_neg``: the denial in other words             나는 식사를 하지 않았다
  - ``alt``:      something that cannot also be true    나는 끼니를 걸렀다        (contradiction)
  - ``neutral``:  related, but neither implied nor ruled out   나는 배가 고프다  (neutral)

A premise states the event (or, one time in four, denies it); the hypothesis restates it,
contradicts it, or says something the premise leaves open (a related fact, an added detail such
as a time or place the premise did not give, or the same event about somebody else).

The output uses the layout ratsnlp's ``KlueNLICorpus`` reads (as nlpbook's pair-classification
tutorial downloads KLUE-NLI): a JSON list of ``{"guid", "genre", "premise", "hypothesis",
"gold_label"}`` records in ``klue_nli_train.json`` and ``klue_nli_dev.json``, labels
``entailment`` / ``contradiction`` / ``neutral``, the three classes balanced, a seeded 80/20
split.

    python scripts/build_nli_corpus.py        # writes data/demo_nli/klue_nli_{train,dev}.json
"""

from __future__ import annotations

import json
import random
from pathlib import Path

SEED = 20261122
OUT_DIR = Path(__file__).resolve().parent.parent / "data" / "demo_nli"
LABELS = ["entailment", "contradiction", "neutral"]  # ratsnlp's KlueNLICorpus.get_labels() order
PAIRS_PER_LABEL = 1000
NEGATED_PREMISES = 0.25  # share of premises that deny the event

SUBJECTS = [
    "나는", "우리는", "철수는", "영희는", "민수는", "지현이는", "형은", "누나는", "동생은",
    "엄마는", "아버지는", "할머니는", "삼촌은", "그 학생은", "내 친구는", "옆집 아저씨는",
    "그녀는", "그는", "수진이는", "준호는",
]
TIMES = ["어제", "오늘", "지난주에", "주말에", "아침에", "저녁에", "그날", "방학 동안"]

# Events, each in several wordings (see the module docstring). ``places`` are where it can
# happen ("" none); ``times`` replaces TIMES where only some fit.
EVENTS = [
    dict(pos=["밥을 먹었다"], para=["식사를 했다", "끼니를 챙겨 먹었다"],
         neg=["밥을 먹지 않았다", "밥을 안 먹었다"], para_neg=["식사를 하지 않았다"],
         alt=["끼니를 걸렀다", "굶었다"],
         neutral=["배가 고프다", "라면을 먹었다", "요리를 했다", "배가 아팠다", "반찬을 남겼다"],
         places=["식당에서", "집에서", "학교 식당에서"]),
    dict(pos=["학교에 갔다"], para=["등교했다", "학교로 향했다"],
         neg=["학교에 가지 않았다", "학교에 안 갔다"], para_neg=["등교하지 않았다"],
         alt=["학교에 결석했다"],
         neutral=["수업을 열심히 들었다", "지각했다", "버스를 탔다", "시험을 봤다"],
         places=[]),
    dict(pos=["책을 읽었다"], para=["독서를 했다", "책 한 권을 읽었다"],
         neg=["책을 읽지 않았다", "책을 안 읽었다"], para_neg=["독서를 하지 않았다"], alt=[],
         neutral=["소설을 좋아한다", "책을 샀다", "잠이 들었다", "도서관에 자주 간다"],
         places=["도서관에서", "카페에서", "방에서"]),
    dict(pos=["잠을 잤다"], para=["잠자리에 들었다", "눈을 붙였다"],
         neg=["잠을 자지 않았다", "잠을 안 잤다", "한숨도 자지 못했다"],
         para_neg=["눈을 붙이지 못했다"], alt=["밤을 새웠다"],
         neutral=["꿈을 꾸었다", "피곤했다", "늦게 일어났다", "코를 골았다"],
         places=["방에서", "소파에서"]),
    dict(pos=["운동을 했다"], para=["운동했다", "몸을 단련했다"],
         neg=["운동을 하지 않았다", "운동을 안 했다"], para_neg=["운동하지 않았다"], alt=[],
         neutral=["살이 빠졌다", "축구를 했다", "근육이 아팠다", "건강해졌다"],
         places=["체육관에서", "공원에서", "헬스장에서"]),
    dict(pos=["영화를 봤다"], para=["영화를 관람했다", "영화 한 편을 봤다"],
         neg=["영화를 보지 않았다", "영화를 안 봤다"], para_neg=["영화를 관람하지 않았다"],
         alt=[], neutral=["팝콘을 먹었다", "영화가 재미있었다", "울었다", "공포 영화를 좋아한다"],
         places=["극장에서", "영화관에서", "집에서"]),
    dict(pos=["친구를 만났다"], para=["친구와 만났다", "친구를 봤다"],
         neg=["친구를 만나지 않았다", "친구를 안 만났다"], para_neg=["친구와 만나지 않았다"],
         alt=[], neutral=["친구와 싸웠다", "선물을 받았다", "커피를 마셨다", "친구가 많다"],
         places=["카페에서", "공원에서", "역 앞에서"]),
    dict(pos=["커피를 마셨다"], para=["커피 한 잔을 마셨다"],
         neg=["커피를 마시지 않았다", "커피를 안 마셨다"],
         para_neg=["커피를 한 모금도 마시지 않았다"], alt=[],
         neutral=["커피를 좋아한다", "잠이 오지 않았다", "케이크를 먹었다", "카페에 자주 간다"],
         places=["카페에서", "사무실에서"]),
    dict(pos=["집을 청소했다"], para=["집 안을 치웠다", "청소를 했다"],
         neg=["집을 청소하지 않았다", "청소를 안 했다"], para_neg=["집을 치우지 않았다"],
         alt=["집을 어지럽힌 채로 두었다"],
         neutral=["손님이 왔다", "먼지 때문에 기침을 했다", "빨래를 했다", "청소기를 새로 샀다"],
         places=[]),
    dict(pos=["숙제를 끝냈다"], para=["숙제를 마쳤다", "숙제를 다 했다"],
         neg=["숙제를 끝내지 못했다", "숙제를 다 하지 않았다"], para_neg=["숙제를 마치지 못했다"],
         alt=["숙제를 하다 말았다"],
         neutral=["숙제가 어려웠다", "선생님께 칭찬을 받았다", "수학을 좋아한다", "밤늦게까지 공부했다"],
         places=["도서관에서", "방에서"]),
    dict(pos=["버스를 탔다"], para=["버스에 올랐다", "버스를 타고 이동했다"],
         neg=["버스를 타지 않았다", "버스를 안 탔다"], para_neg=["버스에 오르지 않았다"], alt=[],
         neutral=["버스가 붐볐다", "지하철도 탔다", "늦게 도착했다", "창가에 앉았다"],
         places=["정류장에서"]),
    dict(pos=["노래를 불렀다"], para=["노래했다", "노래를 한 곡 불렀다"],
         neg=["노래를 부르지 않았다", "노래를 안 불렀다"], para_neg=["노래하지 않았다"], alt=[],
         neutral=["노래를 잘한다", "가수가 되고 싶어 한다", "박수를 받았다", "기타를 쳤다"],
         places=["노래방에서", "무대에서"]),
    dict(pos=["편지를 썼다"], para=["편지를 작성했다", "편지 한 통을 썼다"],
         neg=["편지를 쓰지 않았다", "편지를 안 썼다"], para_neg=["편지를 작성하지 않았다"],
         alt=[], neutral=["편지를 부쳤다", "답장을 받았다", "글씨를 잘 쓴다", "울면서 편지를 썼다"],
         places=["방에서", "카페에서"]),
    dict(pos=["시험에 합격했다"], para=["시험에 붙었다", "시험을 통과했다"],
         neg=["시험에 합격하지 못했다"], para_neg=["시험에 붙지 못했다"],
         alt=["시험에 떨어졌다", "시험에서 탈락했다"],
         neutral=["시험 공부를 열심히 했다", "부모님이 기뻐하셨다", "시험이 쉬웠다", "장학금을 받았다"],
         places=[]),
    dict(pos=["창문을 열었다"], para=["창을 열었다"],
         neg=["창문을 열지 않았다", "창문을 안 열었다"], para_neg=["창을 열지 않았다"],
         alt=["창문을 닫아 두었다"],
         neutral=["방이 더웠다", "바람이 불었다", "창밖을 바라봤다", "에어컨을 켰다"],
         places=[]),
    dict(pos=["친구에게 전화를 걸었다"], para=["친구에게 전화했다", "친구에게 연락했다"],
         neg=["친구에게 전화를 걸지 않았다", "친구에게 전화를 안 걸었다"],
         para_neg=["친구에게 연락하지 않았다"], alt=[],
         neutral=["친구와 한 시간 동안 통화했다", "문자를 보냈다", "휴대폰을 새로 샀다",
                  "친구가 전화를 받지 않았다"],
         places=["집에서", "길에서"]),
    dict(pos=["요리를 했다"], para=["음식을 만들었다"],
         neg=["요리를 하지 않았다", "요리를 안 했다"], para_neg=["음식을 만들지 않았다"], alt=[],
         neutral=["요리를 잘한다", "된장찌개를 끓였다", "손을 베었다", "장을 봤다"],
         places=["부엌에서", "집에서"]),
    dict(pos=["늦게 일어났다"], para=["늦잠을 잤다"],
         neg=["늦게 일어나지 않았다"], para_neg=["늦잠을 자지 않았다"], alt=["일찍 일어났다"],
         neutral=["지각했다", "아침을 걸렀다", "알람을 맞췄다", "전날 밤늦게 잤다"],
         places=[], times=["오늘", "어제", "주말에", "그날"]),
    dict(pos=["선물을 샀다"], para=["선물을 구입했다", "선물을 장만했다"],
         neg=["선물을 사지 않았다", "선물을 안 샀다"], para_neg=["선물을 구입하지 않았다"],
         alt=[], neutral=["돈을 많이 썼다", "선물을 포장했다", "생일 파티에 갔다", "꽃도 샀다"],
         places=["백화점에서", "시장에서"]),
    dict(pos=["음악을 들었다"], para=["노래를 들었다"],
         neg=["음악을 듣지 않았다", "음악을 안 들었다"], para_neg=["노래를 듣지 않았다"], alt=[],
         neutral=["이어폰을 잃어버렸다", "춤을 췄다", "피아노를 배운다", "음악을 좋아한다"],
         places=["방에서", "버스 안에서"]),
    dict(pos=["제주도로 여행을 갔다"], para=["제주도에 다녀왔다", "제주도를 여행했다"],
         neg=["제주도로 여행을 가지 않았다", "제주도에 가지 않았다"],
         para_neg=["제주도를 여행하지 않았다"], alt=[],
         neutral=["비행기를 탔다", "바다에서 수영했다", "사진을 많이 찍었다", "귤을 샀다"],
         places=[], times=["지난주에", "주말에", "방학 동안", "작년에"]),
    dict(pos=["자전거를 탔다"], para=["자전거를 타고 달렸다"],
         neg=["자전거를 타지 않았다", "자전거를 안 탔다"], para_neg=[], alt=[],
         neutral=["넘어져서 다쳤다", "헬멧을 썼다", "새 자전거를 샀다", "한강까지 갔다"],
         places=["공원에서", "강변에서"]),
    dict(pos=["자동차를 팔았다"], para=["차를 팔았다", "자동차를 처분했다"],
         neg=["자동차를 팔지 않았다", "자동차를 안 팔았다"], para_neg=["차를 팔지 않았다"],
         alt=["자동차를 그대로 가지고 있다"],
         neutral=["새 차를 샀다", "돈이 필요했다", "차가 오래되었다", "운전을 잘한다"],
         places=[]),
    dict(pos=["회사에 출근했다"], para=["회사에 나갔다", "일하러 회사에 갔다"],
         neg=["회사에 출근하지 않았다", "출근을 안 했다"], para_neg=["회사에 나가지 않았다"],
         alt=["회사를 쉬었다", "결근했다"],
         neutral=["회의를 했다", "야근을 했다", "지하철을 탔다", "월급을 받았다"],
         places=[]),
    dict(pos=["강아지를 산책시켰다"], para=["강아지와 산책했다", "강아지를 데리고 산책을 나갔다"],
         neg=["강아지를 산책시키지 않았다"], para_neg=["강아지와 산책하지 않았다"], alt=[],
         neutral=["강아지가 짖었다", "고양이도 키운다", "강아지에게 간식을 주었다", "비를 맞았다"],
         places=["공원에서", "동네에서"]),
    dict(pos=["문을 잠갔다"], para=["문을 걸어 잠갔다"],
         neg=["문을 잠그지 않았다", "문을 안 잠갔다"], para_neg=[], alt=["문을 열어 두었다"],
         neutral=["열쇠를 잃어버렸다", "외출했다", "도둑이 들었다", "불을 껐다"],
         places=[]),
    dict(pos=["크게 웃었다"], para=["소리 내어 웃었다"],
         neg=["웃지 않았다"], para_neg=[], alt=["웃음을 꾹 참았다"],
         neutral=["기분이 좋았다", "농담을 했다", "웃음이 많다", "재미있는 영상을 봤다"],
         places=["교실에서", "거실에서"]),
    dict(pos=["피아노를 쳤다"], para=["피아노를 연주했다"],
         neg=["피아노를 치지 않았다", "피아노를 안 쳤다"], para_neg=["피아노를 연주하지 않았다"],
         alt=[], neutral=["피아노 학원에 다닌다", "박수를 받았다", "악보를 샀다", "손가락이 아팠다"],
         places=["거실에서", "무대에서", "음악실에서"]),
    dict(pos=["약을 먹었다"], para=["약을 복용했다", "약을 챙겨 먹었다"],
         neg=["약을 먹지 않았다", "약을 안 먹었다"], para_neg=["약을 복용하지 않았다"], alt=[],
         neutral=["감기에 걸렸다", "병원에 갔다", "머리가 아팠다", "열이 내렸다"],
         places=[]),
    dict(pos=["돈을 빌렸다"], para=["돈을 꾸었다"],
         neg=["돈을 빌리지 않았다", "돈을 안 빌렸다"], para_neg=["돈을 꾸지 않았다"], alt=[],
         neutral=["돈을 갚았다", "집을 샀다", "은행에 갔다", "돈을 모으고 있다"],
         places=["은행에서"]),
    dict(pos=["이사를 했다"], para=["이사했다", "새집으로 옮겼다"],
         neg=["이사를 하지 않았다", "이사를 안 했다"], para_neg=["이사하지 않았다"],
         alt=["원래 집에 그대로 살고 있다"],
         neutral=["집이 넓어졌다", "이삿짐이 많았다", "회사와 가까워졌다", "이웃과 인사했다"],
         places=[], times=["지난주에", "작년에", "방학 동안", "주말에"]),
    dict(pos=["수영을 했다"], para=["헤엄을 쳤다", "물에서 헤엄쳤다"],
         neg=["수영을 하지 않았다", "수영을 안 했다"], para_neg=["헤엄치지 않았다"], alt=[],
         neutral=["수영을 잘한다", "물에 빠질 뻔했다", "햇볕에 탔다", "수영복을 샀다"],
         places=["수영장에서", "바다에서"]),
    dict(pos=["그림을 그렸다"], para=["그림 한 장을 그렸다"],
         neg=["그림을 그리지 않았다", "그림을 안 그렸다"], para_neg=[], alt=[],
         neutral=["화가가 되고 싶어 한다", "물감을 샀다", "상을 받았다", "색연필을 좋아한다"],
         places=["미술실에서", "공원에서"]),
    dict(pos=["우산을 챙겼다"], para=["우산을 가지고 나갔다"],
         neg=["우산을 챙기지 않았다", "우산을 안 챙겼다"], para_neg=["우산을 가지고 나가지 않았다"],
         alt=["우산을 집에 두고 나갔다"],
         neutral=["비가 왔다", "옷이 젖었다", "일기 예보를 봤다", "새 우산을 샀다"],
         places=[]),
    dict(pos=["담배를 끊었다"], para=["금연에 성공했다", "더 이상 담배를 피우지 않는다"],
         neg=["담배를 끊지 못했다", "담배를 끊지 않았다"], para_neg=["금연하지 않았다"],
         alt=["여전히 담배를 피운다"],
         neutral=["건강이 좋아졌다", "껌을 자주 씹는다", "술도 끊었다", "의사를 만났다"],
         places=[], times=["작년에", "지난달에", "결국", "올해"]),
    dict(pos=["길을 잃었다"], para=["길을 헤맸다"],
         neg=["길을 잃지 않았다"], para_neg=["길을 헤매지 않았다"], alt=["길을 잘 찾아갔다"],
         neutral=["지도를 샀다", "택시를 탔다", "휴대폰 배터리가 없었다", "처음 가 본 곳이었다"],
         places=["시장에서", "낯선 동네에서"]),
    dict(pos=["물을 마셨다"], para=["물 한 잔을 마셨다"],
         neg=["물을 마시지 않았다", "물을 안 마셨다"], para_neg=["물을 한 모금도 마시지 않았다"],
         alt=[], neutral=["목이 말랐다", "주스를 마셨다", "물병을 샀다", "땀을 많이 흘렸다"],
         places=["부엌에서", "체육관에서"]),
    dict(pos=["일기를 썼다"], para=["하루를 일기로 적었다"],
         neg=["일기를 쓰지 않았다", "일기를 안 썼다"], para_neg=[], alt=[],
         neutral=["매일 일기를 쓴다", "새 공책을 샀다", "슬픈 일이 있었다", "글쓰기를 좋아한다"],
         places=["방에서", "책상 앞에서"]),
    dict(pos=["손을 씻었다"], para=["손을 물로 씻었다"],
         neg=["손을 씻지 않았다", "손을 안 씻었다"], para_neg=[], alt=[],
         neutral=["감기에 걸렸다", "밥을 먹었다", "비누를 새로 샀다", "손이 더러웠다"],
         places=["화장실에서", "집에서"]),
]


def _premise(rng: random.Random, subject: str, event: dict, negated: bool):
    """A premise and the details (time, place) it gave."""
    time = rng.choice(event.get("times", TIMES)) if rng.random() < 0.45 else ""
    places = event["places"] if not negated else []  # a denial keeps all details (see below)
    place = rng.choice(places) if places and rng.random() < 0.4 else ""
    verb = rng.choice(event["neg"] if negated else event["pos"])
    return _join(subject, time, place, verb), time, place


def _join(*parts: str) -> str:
    return " ".join(part for part in parts if part)


def _hypothesis(rng: random.Random, label: str, subject: str, event: dict, negated: bool,
                time: str, place: str) -> str:
    """A hypothesis that the premise (``subject`` [time] [place] event) makes ``label``."""
    # Details may be dropped from an affirmed premise, not from a denied one ("어제 밥을 먹지
    # 않았다" says nothing about other days).
    keep_time = time if negated or rng.random() < 0.5 else ""
    keep_place = place if negated or rng.random() < 0.3 else ""
    affirm = event["pos"] + event["para"] + event["para"]  # paraphrases more often
    deny = event["neg"] + event["para_neg"]
    if label == "entailment":
        # The same statement in other words, details dropped; a denial also entails the
        # opposite fact ("밥을 먹지 않았다" -> "끼니를 걸렀다").
        verb = rng.choice(deny + event["alt"]) if negated else rng.choice(affirm)
        return _join(subject, keep_time, keep_place, verb)
    if label == "contradiction":
        verb = rng.choice(affirm) if negated else rng.choice(deny + event["alt"] * 2)
        return _join(subject, keep_time, keep_place, verb)
    # Neutral: a related fact, the event about somebody else, or (for an affirmed premise) a
    # detail the premise did not give.
    kind = rng.random()
    if kind < 0.6:
        return _join(subject, rng.choice(event["neutral"]))
    if kind < 0.8 or negated:
        other = rng.choice([s for s in SUBJECTS if s != subject])
        verb = rng.choice(affirm if rng.random() < 0.5 else deny)
        return _join(other, keep_time, verb)
    new_time = "" if time else rng.choice(event.get("times", TIMES))
    unused = [p for p in event["places"] if p != place]
    add_place = not place and unused and (not new_time or rng.random() < 0.5)
    new_place = rng.choice(unused) if add_place else ""
    if not new_time and not new_place:
        return _join(subject, rng.choice(event["neutral"]))
    return _join(subject, new_time or time, new_place or place, rng.choice(affirm))


def build(rng: random.Random) -> list:
    """``PAIRS_PER_LABEL`` distinct (premise, hypothesis, label) rows per label, shuffled."""
    seen, rows = set(), []
    for label in LABELS:
        added = 0
        while added < PAIRS_PER_LABEL:
            subject, event = rng.choice(SUBJECTS), rng.choice(EVENTS)
            negated = rng.random() < NEGATED_PREMISES
            premise, time, place = _premise(rng, subject, event, negated)
            hypothesis = _hypothesis(rng, label, subject, event, negated, time, place)
            if hypothesis == premise or (premise, hypothesis) in seen:
                continue
            seen.add((premise, hypothesis))
            rows.append((premise, hypothesis, label))
            added += 1
    rng.shuffle(rows)
    return rows


def write(path: Path, rows: list, split: str) -> None:
    """A JSON list, one record a line (small, and readable in a diff)."""
    records = [json.dumps({"guid": f"demo-nli-v1_{split}_{i:05d}", "genre": "demo",
                           "premise": premise, "hypothesis": hypothesis, "gold_label": label},
                          ensure_ascii=False)
               for i, (premise, hypothesis, label) in enumerate(rows)]
    path.write_text("[\n" + ",\n".join(records) + "\n]\n", encoding="utf-8")


def split_rows(rng: random.Random, rows: list) -> tuple:
    """80/20 within each label, so both files stay balanced."""
    train, dev = [], []
    for label in LABELS:
        of_label = [row for row in rows if row[2] == label]
        cut = int(len(of_label) * 0.8)
        train += of_label[:cut]
        dev += of_label[cut:]
    rng.shuffle(train)
    rng.shuffle(dev)
    return train, dev


def main() -> None:
    rng = random.Random(SEED)
    train, dev = split_rows(rng, build(rng))
    OUT_DIR.mkdir(parents=True, exist_ok=True)
    write(OUT_DIR / "klue_nli_train.json", train, "train")
    write(OUT_DIR / "klue_nli_dev.json", dev, "dev")
    print(f"wrote {len(train)} training and {len(dev)} dev pairs to {OUT_DIR}")


if __name__ == "__main__":
    main()
