"""Write the demo model's corpus: Korean movie-review-style sentences with sentiment labels.

Every sentence here was written for demo_app (no outside data set). Part are whole reviews; the
rest join two short verdicts on different aspects of a film ("연기가 훌륭하고 음악도 좋았어요"),
so the model sees varied wording. The output uses the NSMC layout that nlpbook's tutorials read
(``id<TAB>document<TAB>label``, label 1 = positive) and a seeded 80/20 train/test split.

    python scripts/build_demo_corpus.py        # writes data/demo_reviews/ratings_{train,test}.txt
"""

from __future__ import annotations

import random
from pathlib import Path

SEED = 20261121
OUT_DIR = Path(__file__).resolve().parent.parent / "data" / "demo_reviews"

POSITIVE_REVIEWS = """
이 영화 정말 재밌어요
진짜 최고의 영화였습니다
배우들 연기가 너무 좋았어요
시간 가는 줄 모르고 봤네요
다시 보고 싶은 영화
올해 본 영화 중에 제일 좋았다
감동적이고 따뜻한 이야기였어요
눈물 나게 감동적이었습니다
가족이랑 같이 보기 좋은 영화에요
스토리가 탄탄하고 재미있어요
연출이 훌륭합니다
배경 음악이 정말 아름다웠어요
웃다가 울다가 했네요 강추합니다
기대 이상으로 재밌었어요
두 번 봐도 재밌는 영화
주인공 연기에 완전 빠져들었어요
마지막 장면이 너무 멋있었다
완벽한 영화입니다 별 다섯 개
친구한테 꼭 보라고 추천했어요
영상미가 압도적이네요
몰입감이 대단했습니다
인생 영화 등극입니다
보는 내내 행복했어요
명작은 역시 다르네요
배우들의 호흡이 정말 좋았다
유쾌하고 즐거운 영화였어요
긴장감 넘치고 재밌었습니다
돈이 하나도 아깝지 않아요
극장에서 보길 잘했다
감독의 다음 작품이 기대됩니다
잔잔하지만 여운이 깊게 남아요
대사 하나하나가 마음에 와닿았어요
아이들도 어른들도 모두 좋아할 영화
반전이 정말 기가 막혔어요
오랜만에 극장에서 크게 웃었습니다
캐릭터들이 하나같이 매력적이에요
원작보다 더 좋았어요
이런 영화를 기다려 왔습니다
액션 장면이 시원시원하고 멋졌다
음악과 영상이 잘 어울려요
울림이 있는 좋은 영화였습니다
정말 잘 만든 영화네요
몇 번을 봐도 질리지 않아요
세 시간이 짧게 느껴졌어요
마음이 따뜻해지는 영화
강력 추천합니다 꼭 보세요
주연 배우 연기가 소름 돋았어요
기대 안 하고 봤는데 대박이었다
재미와 감동을 다 잡았네요
극장 나오면서 박수 쳤어요
가슴이 뭉클했습니다
웰메이드 영화입니다
지루할 틈이 없었어요
영화관에서 또 보고 싶어요
아름다운 영화였습니다 고마워요
각본이 정말 훌륭하다
최고의 결말이었어요
보고 나서 기분이 좋아졌어요
이 감독 천재인 듯
배우들 케미가 최고예요
올해의 영화로 손색이 없다
생각보다 훨씬 좋았어요
OST가 계속 귀에 맴돌아요
볼 가치가 충분한 영화
재밌게 잘 봤습니다
완전 꿀잼이었어요
10점 만점에 10점
역대급 명작이에요
따뜻하고 사랑스러운 영화
연기 연출 음악 모두 좋았어요
스릴 넘치고 재미있었다
명장면이 너무 많아요
정말 감동받았어요 최고
한 장면도 버릴 게 없네요
오래 기억에 남을 영화입니다
지루하지 않고 끝까지 재밌었어요
전혀 아깝지 않은 시간이었다
영화 보는 내내 미소가 지어졌어요
가슴 벅찬 감동이 있는 영화
유머 감각이 돋보이는 영화였어요
배우들이 캐릭터를 완벽하게 소화했다
다음 편이 너무 기다려져요
후회 없는 선택이었습니다
감탄만 나오는 영상미
최고예요 정말 좋았습니다
훌륭한 작품입니다 추천해요
잘 봤어요 재밌네요
좋은 영화 만들어 주셔서 감사합니다
진심으로 감동했어요
너무너무 재밌어요
완벽 그 자체
좋아요
최고
재밌다
재밌어요
꿀잼
강추
대박
감동
좋았다
재미있다
훌륭해요
추천
명작
""".strip().splitlines()

NEGATIVE_REVIEWS = """
정말 재미없어요
시간이 아까웠습니다
최악의 영화였다
돈 주고 보기 아까운 영화
너무 지루해서 졸았어요
스토리가 엉망이에요
배우들 연기가 어색했어요
보다가 중간에 나왔습니다
기대했는데 실망이 컸어요
다시는 보고 싶지 않아요
이게 영화냐
감독이 무슨 생각으로 만들었는지 모르겠다
개연성이 하나도 없어요
결말이 너무 허무했습니다
억지 감동이 불편했어요
유치하고 뻔한 이야기
돈이 아깝네요
연출이 산만하고 지루했다
음악이 너무 시끄러웠어요
주인공이 답답해서 짜증났어요
최악이에요 비추합니다
별 하나도 아깝다
두 시간이 너무 길게 느껴졌다
대사가 오글거려서 못 보겠어요
졸작입니다
보는 내내 하품만 했어요
광고에 속았네요
원작을 망쳐 놨어요
캐릭터들이 전혀 매력이 없다
반전이 너무 뻔했어요
실망스러운 작품입니다
재미도 감동도 없었어요
편집이 엉망이라 이해가 안 됐다
쓰레기 같은 영화
이런 영화에 시간을 쓰다니
배우가 아깝다
전개가 너무 느리고 답답해요
후반부가 완전히 무너졌다
극장에서 잤습니다
지루하고 또 지루했다
추천하지 않습니다
평점 알바에 속았어요
내용이 없는 영화
억지스러운 설정이 많아요
소리만 요란하고 내용은 없다
개봉 전에 기대했던 게 후회됩니다
너무 잔인하고 불쾌했어요
웃기려고 했는데 하나도 안 웃겼다
액션이 조잡하고 어설펐어요
이건 진짜 아니다
중간부터 핸드폰만 봤어요
CG가 너무 티 나고 어색했다
스토리 전개가 엉성하다
영화관 나오면서 화가 났어요
절대 보지 마세요
그냥 그랬어요 별로입니다
좋은 배우들로 이것밖에 못 만드나
몰입이 전혀 안 됐어요
감동 강요하는 영화 싫어요
역대급 망작
이해할 수 없는 결말
재미없고 길기만 하다
연기가 너무 과했어요
보고 나서 기분만 나빠졌다
뭘 말하고 싶은지 모르겠어요
1점도 아까워요
차라리 잠이나 잘 걸
긴장감이 하나도 없었습니다
성의 없이 만든 티가 난다
실망 그 자체
시나리오가 너무 허술해요
후속편은 안 볼래요
돈 버리고 시간 버렸네요
유치해서 못 봐주겠다
정말 별로였습니다
아무 감흥이 없었어요
캐스팅이 아쉽네요
보다가 꺼버렸어요
기대 이하였어요
지루해서 죽는 줄 알았다
내 시간 돌려줘
어설픈 연출에 실망했어요
엉터리 영화입니다
이런 결말은 최악이다
노잼이었어요
너무 재미없다
끝까지 보기 힘들었어요
감독 다음 작품은 안 볼 겁니다
별로
별로예요
노잼
최악
지루함
비추
실망
재미없다
아까워요
싫어요
졸작
망작
별로다
시간 아까운 영화
돈 아까워요
티켓값이 아까웠어요
두 시간이 아까웠다
관람료가 아깝습니다
보는 시간이 아까웠어요
""".strip().splitlines()

ASPECTS = [
    "연기", "스토리", "연출", "음악", "영상미", "결말", "대사", "캐릭터", "액션", "편집",
    "각본", "분위기", "영화", "내용", "작품", "이야기",
]
# Ways to say a good or a bad thing about an aspect; "{a}" is the aspect with its particle.
POSITIVE_VERDICTS = [
    "{a} 정말 좋았고", "{a} 훌륭했고", "{a} 완벽했고", "{a} 인상적이었고", "{a} 아름다웠고",
    "{a} 최고였고", "{a} 탄탄했고", "{a} 마음에 들었고",
]
NEGATIVE_VERDICTS = [
    "{a} 별로였고", "{a} 엉망이었고", "{a} 어색했고", "{a} 지루했고", "{a} 실망스러웠고",
    "{a} 최악이었고", "{a} 엉성했고", "{a} 아쉬웠고",
]
POSITIVE_ENDINGS = [
    "{a} 좋았어요", "{a} 훌륭했습니다", "{a} 멋졌어요", "{a} 감동적이었다", "{a} 기억에 남아요",
    "{a} 최고였어요",
]
NEGATIVE_ENDINGS = [
    "{a} 별로였어요", "{a} 실망이었습니다", "{a} 엉망이었다", "{a} 지루했어요", "{a} 짜증났어요",
    "{a} 최악이었어요",
]
# Past-tense stems for one-clause reviews ("연출이 정말 좋았습니다"); every ending below fits them.
POSITIVE_STEMS = ["좋았", "훌륭했", "멋있었", "완벽했", "인상적이었", "아름다웠", "탄탄했",
                  "감동적이었", "재밌었", "신선했", "최고였", "뛰어났", "볼만했", "재미있었"]
NEGATIVE_STEMS = ["별로였", "아쉬웠", "지루했", "엉망이었", "어색했", "실망스러웠", "허술했",
                  "엉성했", "유치했", "뻔했", "최악이었", "형편없었", "재미없었", "지루하기만 했"]
STEM_ENDINGS = ["다", "어요", "습니다", "네요", "던데요"]
ADVERBS = ["", "정말 ", "너무 ", "진짜 ", "생각보다 ", "꽤 ", "아주 "]
OWNERS = ["", "", "이 영화의 ", "감독의 ", "배우들의 ", "주인공의 "]
COMPOSED_PER_LABEL = 260
ONE_CLAUSE_PER_LABEL = 300


def with_particle(word: str, particles: tuple) -> str:
    """Korean subject/topic particle by whether the last syllable has a final consonant."""
    has_final = (ord(word[-1]) - 0xAC00) % 28 != 0 if "가" <= word[-1] <= "힣" else False
    return word + (particles[0] if has_final else particles[1])


def compose(rng: random.Random, verdicts: list, endings: list) -> str:
    first, second = rng.sample(ASPECTS, 2)
    head = rng.choice(verdicts).format(a=with_particle(first, ("이", "가")))
    tail = rng.choice(endings).format(a=with_particle(second, ("도", "도")))
    return f"{head} {tail}"


def one_clause(rng: random.Random, stems: list) -> str:
    aspect = with_particle(rng.choice(ASPECTS), ("이", "가"))
    ending = rng.choice(stems) + rng.choice(STEM_ENDINGS)
    return f"{rng.choice(OWNERS)}{aspect} {rng.choice(ADVERBS)}{ending}"


def build(rng: random.Random) -> list:
    rows = {(s.strip(), 1) for s in POSITIVE_REVIEWS} | {(s.strip(), 0) for s in NEGATIVE_REVIEWS}
    for label, verdicts, endings in ((1, POSITIVE_VERDICTS, POSITIVE_ENDINGS),
                                     (0, NEGATIVE_VERDICTS, NEGATIVE_ENDINGS)):
        added = 0
        while added < COMPOSED_PER_LABEL:
            row = (compose(rng, verdicts, endings), label)
            if row not in rows:
                rows.add(row)
                added += 1
        added = 0
        stems = POSITIVE_STEMS if label == 1 else NEGATIVE_STEMS
        while added < ONE_CLAUSE_PER_LABEL:
            row = (one_clause(rng, stems), label)
            if row not in rows:
                rows.add(row)
                added += 1
    rows = sorted(rows)
    rng.shuffle(rows)
    return rows


def write(path: Path, rows: list) -> None:
    lines = ["id\tdocument\tlabel"] + [f"{i}\t{text}\t{label}" for i, (text, label) in rows]
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")


def main() -> None:
    rng = random.Random(SEED)
    rows = list(enumerate(build(rng), start=1))
    split = int(len(rows) * 0.8)
    OUT_DIR.mkdir(parents=True, exist_ok=True)
    write(OUT_DIR / "ratings_train.txt", rows[:split])
    write(OUT_DIR / "ratings_test.txt", rows[split:])
    print(f"wrote {split} training and {len(rows) - split} test sentences to {OUT_DIR}")


if __name__ == "__main__":
    main()
