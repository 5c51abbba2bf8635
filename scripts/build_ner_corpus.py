"""Write the NER demo model's corpus: Korean sentences with their named entities marked.

Every sentence here was written for demo_app (no outside data set). Each one is put together from
a hand-written template ("{PER:은} {LOC}에서 {ORG}에 입사했다") and hand-written entity lists; the
particle after a slot follows the entity's last sound (은/는, 이/가, 을/를, 과/와, 으로/로, ...).

The output uses the layout ratsnlp's ``NERCorpus`` reads (as nlpbook's NER tutorial downloads it):
``train.txt`` and ``val.txt``, one sentence a line, ``sentence␞tagged sentence``, where the tagged
sentence writes each entity as ``<낱말:TAG>``:

    이순신은 조선 중기의 무신이다␞<이순신:PER>은 <조선:LOC> 중기의 무신이다

Tags (three capital letters, as ratsnlp's ``<(.+?):[A-Z]{3}>`` expects) are those of the book's
corpus: PER 인명, LOC 지명, ORG 기관명, DAT 날짜, TIM 시간, DUR 기간, MNY 통화, PNT 비율,
NOH 기타 수량표현, POH 기타. Countries, old kingdoms included (조선, 고려), are LOC.

Two entities are never written side by side with only a space between them ("<2019년 5월:DAT>
<서울:LOC>"): ratsnlp's label alignment (``_process_target_sentence``) measures positions with
the spaces taken out, and there the second entity's first word piece starts exactly where the
first entity ends, so it is labelled O and its second piece (if any) B-. A particle or another
word between the two keeps the labels right. A seeded 80/20 split.

    python scripts/build_ner_corpus.py        # writes data/demo_ner/{train,val}.txt
"""

from __future__ import annotations

import random
import re
from pathlib import Path

SEED = 20261123
OUT_DIR = Path(__file__).resolve().parent.parent / "data" / "demo_ner"
SENTENCES = 2400
SEPARATOR = "\u241e"  # ␞, what NERCorpus splits each line on
TAG = re.compile(r"<(.+?):[A-Z]{3}>")  # ratsnlp's regex_ner

PER = [
    "이순신", "세종대왕", "장영실", "유관순", "안중근", "김구", "정약용", "신사임당", "허준", "김유신",
    "강감찬", "을지문덕", "홍길동", "김철수", "이영희", "박민수", "최지현", "정수진", "강준호", "윤서연",
    "임하늘", "한지민", "김민준", "이서윤", "박도윤", "최하은", "정시우", "강지호", "조수아", "윤예준",
    "장서현", "임주원", "한지우", "오건우", "서민서", "신유진", "권태민", "황보라", "송지훈", "류현우",
    "배수빈", "남궁민", "문채원", "양동근", "구자영", "백승호", "노지훈", "하정민", "전소윤", "고은비",
    "김영수", "이정훈", "박지영", "최민호", "정다은", "유재석", "손흥민", "박세리", "김연아", "이황",
    "이이", "정몽주", "김홍도", "신윤복", "허난설헌", "장보고", "최무선", "김정호", "방정환", "윤동주",
]
# Where "{job}" fits (historical figures get the 조선 중기 sentences).
HISTORICAL_PER = PER[:17] + ["이황", "이이", "정몽주", "김홍도", "신윤복", "허난설헌", "장보고",
                              "최무선", "김정호", "방정환", "윤동주"]
CITIES = [
    "서울", "부산", "대구", "인천", "광주", "대전", "울산", "수원", "전주", "경주", "춘천", "청주",
    "포항", "창원", "여수", "강릉", "목포", "안동", "세종시", "성남",
]
REGIONS = ["제주도", "강원도", "경기도", "충청도", "전라도", "경상도", "독도", "울릉도", "남해안", "서해안"]
PLACES = ["한강", "낙동강", "설악산", "지리산", "한라산", "북한산", "명동", "강남", "해운대", "서울역",
          "광화문", "인사동", "경복궁", "남산"]
COUNTRIES = ["미국", "일본", "중국", "프랑스", "독일", "영국", "러시아", "베트남", "캐나다", "호주",
             "인도", "브라질", "이탈리아", "스페인", "태국", "몽골", "이집트", "멕시코"]
FOREIGN_CITIES = ["뉴욕", "파리", "런던", "도쿄", "베이징", "하노이", "로마", "베를린", "시드니",
                  "방콕", "오사카", "상하이", "워싱턴", "모스크바"]
KINGDOMS = ["조선", "고려", "신라", "백제", "고구려", "가야", "발해"]
LOC = CITIES + REGIONS + PLACES + COUNTRIES + FOREIGN_CITIES + KINGDOMS
COMPANIES = [
    "삼성전자", "현대자동차", "LG전자", "SK하이닉스", "네이버", "카카오", "포스코", "기아", "쿠팡",
    "대한항공", "아시아나항공", "롯데마트", "이마트", "한국전력", "셀트리온", "우리은행", "신한은행",
    "CJ제일제당", "농심", "오뚜기", "한화", "두산", "KT", "넥슨", "엔씨소프트",
]
AGENCIES = [
    "한국은행", "국회", "교육부", "보건복지부", "국토교통부", "기상청", "경찰청", "국세청", "대법원",
    "헌법재판소", "서울시청", "부산시청", "국립중앙박물관", "한국관광공사", "통계청", "소방청",
    "질병관리청", "유엔", "세계보건기구", "대한축구협회", "대한적십자사", "한국소비자원",
]
SCHOOLS = ["서울대학교", "연세대학교", "고려대학교", "카이스트", "부산대학교", "포항공대", "이화여대",
           "성균관대학교", "한양대학교", "전남대학교", "경북대학교", "충남대학교"]
ORG = COMPANIES + AGENCIES + SCHOOLS
POH = ["갤럭시", "아이폰", "훈민정음", "난중일기", "동의보감", "목민심서", "기생충", "오징어 게임",
       "카트라이더", "배틀그라운드", "쏘나타", "해리 포터", "어린 왕자", "아리랑", "애국가", "무한도전",
       "대동여지도", "팔만대장경", "직지심체요절", "메이플스토리"]
JOBS = ["무신", "문신", "학자", "화가", "장군", "의원", "시인", "발명가", "독립운동가", "왕", "과학자"]
ERAS = ["초기", "중기", "후기", "말기"]
WEEKDAYS = ["월요일", "화요일", "수요일", "목요일", "금요일", "토요일", "일요일"]
PRODUCTS = ["노트북", "휴대폰", "자동차", "냉장고", "반도체", "과자", "라면", "세탁기"]
THINGS = ["사과", "책", "의자", "공책", "연필", "상자", "우산", "컴퓨터"]
COUNTERS = {"명": ["직원", "학생", "관광객", "선수", "환자", "시민", "손님"],
            "개": ["사과", "상자", "빵", "가방", "의자"], "대": ["자동차", "컴퓨터", "버스", "트럭"],
            "권": ["책", "소설", "공책"], "마리": ["강아지", "고양이", "소", "닭"],
            "곳": ["매장", "공장", "지점", "학교"], "채": ["집", "아파트"]}


def _number(rng: random.Random, low: int, high: int) -> str:
    return str(rng.randint(low, high))


def dat(rng: random.Random) -> str:
    year, month, day = rng.randint(1900, 2030), rng.randint(1, 12), rng.randint(1, 28)
    return rng.choice([f"{year}년", f"{year}년 {month}월", f"{month}월 {day}일",
                       f"{year}년 {month}월 {day}일", f"{year}년 {month}월 {day}일",
                       f"{month}월", rng.choice(WEEKDAYS), f"{day}일"])


def tim(rng: random.Random) -> str:
    hour, minute = rng.randint(1, 12), rng.choice([5, 10, 15, 20, 30, 40, 45, 50])
    return rng.choice([f"오전 {hour}시", f"오후 {hour}시", f"오후 {hour}시 {minute}분",
                       f"오전 {hour}시 {minute}분", f"새벽 {hour}시", f"밤 {hour}시", f"저녁 {hour}시",
                       f"{hour}시 {minute}분", f"{hour}시", "정오", "자정"])


def dur(rng: random.Random) -> str:
    n = rng.randint(2, 30)
    return rng.choice([f"{n}일", f"{n}일간", f"{n}시간", f"{n}년", f"{n}개월", f"{n}주", f"{n}분",
                       f"{n}년간", "하루", "일주일", "한 달", "열흘"])


def mny(rng: random.Random) -> str:
    n = rng.randint(1, 999)
    return rng.choice([f"{n}원", f"{n}만 원", f"{n}억 원", f"{n}달러", f"{n}천 원", f"{n}조 원",
                       f"{n}만원", f"{n},000원", f"{n}억 달러", f"{n}유로", f"{n}엔"])


def pnt(rng: random.Random) -> str:
    n = rng.randint(1, 99)
    return rng.choice([f"{n}%", f"{n}%", f"{n}퍼센트", f"{n}.{rng.randint(1, 9)}%", f"{n}%포인트",
                       f"0.{rng.randint(1, 9)}%"])


def noh(rng: random.Random, counter: str = "") -> str:
    counter = counter or rng.choice(list(COUNTERS))
    high = {"살": 90, "도": 38, "번": 30}.get(counter, 500)
    return f"{rng.randint(2, high)}{counter}"


# Templates. ``{TAG}`` is an entity of that type, ``{TAG:은}`` one followed by a particle (written in
# the form that follows a final consonant: 은 이 을 과 으로 이다 이었다 이라는 아); ``{x}``
# (lower case) is a plain word from the lists above.
TEMPLATES = [
    "{PER_H:은} {KINGDOM} {era}의 {job}이다",
    "{PER_H:은} {KINGDOM} {era}에 활동한 {job}이다",
    "{PER_H:은} {KINGDOM}의 {job}으로 {POH:을} 남겼다",
    "{KINGDOM} {era}의 {job} {PER_H:은} {CITY}에서 태어났다",
    "{PER_H:은} {DAT}에 {CITY}에서 태어났다",
    "{PER_H:은} {KINGDOM}의 {job}이다",
    "{PER_H:은} {job}이다",
    "{PER:은} {CITY} 사람이다",
    "{PER:은} {ORG} 직원이다",
    "{LOC:은} 아름답다",
    "{ORG:이} 문을 닫았다",
    "{PER:을} 만났다",
    "{DAT:은} 휴일이다",
    "{PER_H:이} 쓴 {POH:은} 지금도 널리 읽힌다",
    "{PER:은} {DAT}에 {CITY}에서 태어났다",
    "{PER:은} {DAT}에 {CITY:으로} 이사했다",
    "{PER:은} {ORG}에 다닌다",
    "{PER:은} {SCHOOL:을} 졸업하고 {COMPANY}에 입사했다",
    "{PER:은} {DAT}에 {COMPANY}에 입사했다",
    "{PER:이} {DAT}에 {ORG} 사장으로 취임했다",
    "{DAT}에 {CITY}에서 {COMPANY} 직원 {NOH_명:을} 만났다",
    "{DAT}에 {LOC}에서 {PER:을} 만났다",
    "{PER:은} {DAT}에 {LOC}에서 친구 {NOH_명:을} 만났다",
    "{PER:과} 함께 {LOC}에 다녀왔다",
    "{PER:은} {LOC}에서 {DUR} 동안 머물렀다",
    "{PER:은} {DUR}간 {LOC:을} 여행했다",
    "우리 가족은 {DAT}에 {REGION:으로} 여행을 떠났다",
    "{LOC:은} 여름에 관광객이 많다",
    "{CITY:은} {COUNTRY}의 도시가 아니다",
    "{FCITY:은} {COUNTRY_ANY}에 있는 도시다",
    "{COMPANY:은} {DAT}에 {PRODUCT} 가격을 {PNT} 올렸다",
    "{COMPANY:은} 올해 매출이 {PNT} 늘었다고 밝혔다",
    "{COMPANY:의} 영업이익은 {MNY:으로} 집계됐다",
    "{COMPANY:은} {LOC}에 {MNY:을} 투자하기로 했다",
    "{ORG:은} {DAT}에 기준금리를 {PNT} 내렸다",
    "{ORG:은} 실업률이 {PNT:이라고} 발표했다",
    "{ORG:은} 이번 조사에서 응답자의 {PNT:이} 찬성했다고 밝혔다",
    "{AGENCY:은} {DAT}부터 새 제도를 시행한다",
    "{AGENCY:는} {DAT}에 기자회견을 열고 {TIM}부터 질문을 받았다",
    "회의는 {DAT}에 {LOC}에서 열리고 {TIM:에} 시작한다",
    "{PER:은} 매일 {TIM:에} 일어난다",
    "가게는 {TIM:에} 문을 연다",
    "수업은 {TIM:에} 끝난다",
    "{PER:은} 어제 {TIM:이} 넘어서 잠들었다",
    "{ORG:은} {TIM}부터 민원을 받는다",
    "{PER:은} {TIM:에} 집을 나섰다",
    "열차는 {TIM:에} {CITY}역을 출발한다",
    "{CITY}행 비행기가 {TIM:에} 떠난다",
    "{PER:은} {TIM}부터 {DUR} 동안 공부했다",
    "공사는 {DAT}부터 {DUR} 동안 계속된다",
    "{PER:은} {THING} {NOH_개:를} {MNY:에} 샀다",
    "{PER:은} 시장에서 {THING:을} {MNY:에} 팔았다",
    "이 {PRODUCT:은} {MNY:이다}",
    "{PER:은} 월급으로 {MNY:을} 받는다",
    "{PER:은} {ORG}에 {MNY:을} 기부했다",
    "입장료는 어른 {MNY}, 어린이 {MNY:이다}",
    "{COMPANY:은} {LOC}에 매장 {NOH_곳:을} 열었다",
    "{ORG}에는 직원 {NOH_명:이} 일한다",
    "{CITY}에서 열린 대회에 선수 {NOH_명:이} 참가했다",
    "{PER:은} 강아지 {NOH_마리:를} 키운다",
    "{PER:은} 올해 책 {NOH_권:을} 읽었다",
    "주차장에 자동차 {NOH_대:가} 서 있다",
    "{PER:은} {POH:을} 좋아한다",
    "{PER:은} 어제 {POH:를} 다시 봤다",
    "{COMPANY:은} {DAT}에 새 {POH:를} 내놓았다",
    "“{POH}”의 첫 편은 {DAT}에 나왔다",
    "{PER:이} 만든 {POH:은} {LOC}에서도 인기가 많다",
    "{PER}({NOH_살})도 {CITY}에 산다",
    "{PER}({NOH_살}) 씨는 {ORG}에서 일한다",
    "{PER:은} 지난 {DAT_DAY}에 {CITY}에서 기자들을 만났다",
    "{PER:은} {DAT}에 {ORG:에} 합격했다",
    "{PER:은} {ORG:과} {DUR} 계약을 맺었다",
    "{PER:은} {COUNTRY}에서 {DUR} 동안 유학했다",
    "{PER:과} {PER:은} {SCHOOL} 동창이다",
    "{PER:은} {PER:에게} 편지를 보냈다",
    "{PER:은} 내일 {CITY}에 간다",
    "{CITY}의 인구는 약 {NOH_명:이다}",
    "{DAT} 기준 {CITY}의 아파트 값은 {PNT} 올랐다",
    "{LOC:은} 오늘 맑고 기온은 영상 {NOH_도}까지 오른다",
    "{AGENCY:은} 내일 {REGION}에 비가 온다고 예보했다",
    "{PER:은} {DAT}에 {COMPANY:을} 그만두었다",
    "그는 {ORG}에서 {DUR} 동안 일했다",
    "이번 행사는 {LOC}에서 {DUR}간 열린다",
    "{PER} 선수는 {DAT}에 {NOH_번}째 골을 넣었다",
    "{PER:은} {ORG} 소속 연구원이다",
    "오늘 점심은 친구와 김밥을 먹었다",
    "날씨가 좋아서 산책을 했다",
    "내일은 비가 올 것 같다",
    "그 영화는 정말 재미있었다",
    "우리는 도서관에서 함께 공부했다",
    "요즘 잠을 잘 자지 못한다",
]


def has_batchim(word: str) -> tuple:
    """(has a final consonant, that consonant is ㄹ) for the word's last sound."""
    last = word.rstrip()[-1]
    if "가" <= last <= "힣":
        final = (ord(last) - ord("가")) % 28
        return final != 0, final == 8
    if last.isdigit():  # read as Sino-Korean: 영 일 이 삼 사 오 육 칠 팔 구
        return last in "013678", last in "178"
    if last == "%":  # 퍼센트
        return False, False
    return last.upper() in "LMNR", last.upper() in "LR"  # 엘 엠 엔 알


def attach(word: str, particle: str) -> str:
    if not particle:
        return ""
    final, rieul = has_batchim(word)
    forms = {"은": ("은", "는"), "는": ("은", "는"), "이": ("이", "가"), "가": ("이", "가"),
             "을": ("을", "를"), "를": ("을", "를"), "과": ("과", "와"), "와": ("과", "와"),
             "이다": ("이다", "다"), "이었다": ("이었다", "였다"), "이라고": ("이라고", "라고"),
             "아": ("아", "야")}
    if particle in ("으로", "로"):
        return "로" if not final or rieul else "으로"
    if particle in forms:
        return forms[particle][0 if final else 1]
    return particle  # invariant: 의 에 에서 에게 도 ...


SLOT = re.compile(r"\{([A-Za-z_가-힣]+)(?::([^}]*))?\}")


def fill(rng: random.Random, template: str) -> tuple:
    """(sentence, tagged sentence) for one template."""
    plain, tagged, used = [], [], set()
    position = 0
    for match in SLOT.finditer(template):
        plain.append(template[position:match.start()])
        tagged.append(template[position:match.start()])
        position = match.end()
        name, particle = match.group(1), match.group(2) or ""
        word, tag = pick(rng, name, used)
        used.add(word)
        ending = attach(word, particle)
        plain.append(word + ending)
        tagged.append(f"<{word}:{tag}>" + ending if tag else word + ending)
    plain.append(template[position:])
    tagged.append(template[position:])
    return "".join(plain), "".join(tagged)


def pick(rng: random.Random, name: str, used: set) -> tuple:
    """A filler for ``name`` (not one already in the sentence) and its tag (None: plain word)."""
    pools = {"PER": (PER, "PER"), "PER_H": (HISTORICAL_PER, "PER"), "LOC": (LOC, "LOC"),
             "CITY": (CITIES, "LOC"), "REGION": (REGIONS, "LOC"), "COUNTRY": (COUNTRIES, "LOC"),
             "FCITY": (FOREIGN_CITIES, "LOC"), "KINGDOM": (KINGDOMS, "LOC"),
             "ORG": (ORG, "ORG"), "COMPANY": (COMPANIES, "ORG"), "AGENCY": (AGENCIES, "ORG"),
             "SCHOOL": (SCHOOLS, "ORG"), "POH": (POH, "POH"), "era": (ERAS, None),
             "job": (JOBS, None), "PRODUCT": (PRODUCTS, None), "THING": (THINGS, None)}
    makers = {"DAT": (dat, "DAT"), "TIM": (tim, "TIM"), "DUR": (dur, "DUR"), "MNY": (mny, "MNY"),
              "PNT": (pnt, "PNT")}
    if name == "COUNTRY_ANY":
        return rng.choice(COUNTRIES), "LOC"
    if name == "DAT_DAY":
        return f"{rng.randint(1, 28)}일", "DAT"
    if name.startswith("NOH_"):
        return noh(rng, name[4:]), "NOH"
    if name in makers:
        make, tag = makers[name]
        return make(rng), tag
    pool, tag = pools[name]
    word = rng.choice([w for w in pool if w not in used])
    return word, tag


def check(sentence: str, tagged: str) -> None:
    assert SEPARATOR not in sentence + tagged
    assert "\n" not in sentence + tagged
    assert TAG.sub(lambda m: m.group(1), tagged) == sentence, (sentence, tagged)
    squeezed = tagged.replace(" ", "")
    assert "><" not in squeezed, f"entities side by side: {tagged}"  # see the module docstring


def build(rng: random.Random) -> list:
    seen, rows = set(), []
    while len(rows) < SENTENCES:
        sentence, tagged = fill(rng, rng.choice(TEMPLATES))
        if sentence in seen:
            continue
        check(sentence, tagged)
        seen.add(sentence)
        rows.append((sentence, tagged))
    rng.shuffle(rows)
    return rows


def write(path: Path, rows: list) -> None:
    path.write_text("".join(f"{s}{SEPARATOR}{t}\n" for s, t in rows), encoding="utf-8")


def main() -> None:
    rng = random.Random(SEED)
    rows = build(rng)
    cut = int(len(rows) * 0.8)
    OUT_DIR.mkdir(parents=True, exist_ok=True)
    write(OUT_DIR / "train.txt", rows[:cut])
    write(OUT_DIR / "val.txt", rows[cut:])
    counts = {}
    for _, tagged in rows:
        for match in re.finditer(r"<.+?:([A-Z]{3})>", tagged):
            counts[match.group(1)] = counts.get(match.group(1), 0) + 1
    print(f"wrote {cut} training and {len(rows) - cut} validation sentences to {OUT_DIR}")
    print("entities:", ", ".join(f"{tag} {n}" for tag, n in sorted(counts.items(), key=lambda kv: -kv[1])))


if __name__ == "__main__":
    main()
