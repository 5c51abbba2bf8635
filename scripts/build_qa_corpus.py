"""Write the QA demo model's corpus: Korean paragraphs, questions about them and their answers.

Every paragraph, question and answer here was written for demo_app (no outside data set). A
paragraph is put together from hand-written sentence templates of one kind (a person's life, a
company, a festival, a battle, a match, a new product, a discovery), with names, places, dates and
numbers drawn from hand-written lists; its questions ask for the values put in, each in one of
several wordings ("김민준은 어디에서 태어났나요?", "김민준의 출생지는?"). Some paragraphs get
extra sentences, so that they run past one 128-token window and the answer may lie in a later one.

The output uses the layout ratsnlp's ``KorQuADV1Corpus`` reads (SQuAD v1 / KorQuAD v1.0):
``KorQuAD_v1.0_train.json`` and ``KorQuAD_v1.0_dev.json``, each
``{"version": "demo_qa_v1", "data": [{"title", "paragraphs": [{"context", "qas": [{"id",
"question", "answers": [{"text", "answer_start"}]}]}]}]}``, ``answer_start`` counting characters
(``context[answer_start:answer_start + len(text)] == text``). A seeded 80/20 split by paragraph.

Two things ratsnlp's feature code does shape the paragraphs (``qa/corpus.py``):
  - ``KorQuADV1Corpus.get_examples`` drops an answer whose ``answer_start`` is 0 (it tests the
    offset for truth), so no answer starts a paragraph;
  - ``_squad_convert_example_to_features`` puts the end of an answer in the paragraph's last
    word at ``len(doc_tokens) - 1`` (words, not word pieces), so every paragraph ends with a
    sentence that holds no answer.

    python scripts/build_qa_corpus.py        # writes data/demo_qa/KorQuAD_v1.0_{train,dev}.json
"""

from __future__ import annotations

import json
import random
import re
from pathlib import Path

from build_ner_corpus import (  # (the same hand-written names, places and particles)
    CITIES,
    COUNTRIES,
    FOREIGN_CITIES,
    PER,
    SCHOOLS,
    attach,
)

SEED = 20261124
OUT_DIR = Path(__file__).resolve().parent.parent / "data" / "demo_qa"
CONTEXTS = 800

FIRMS = ["한빛", "새솔", "누리", "미래", "푸른", "다온", "가람", "하늘", "별빛", "바른", "온새", "해든",
         "나래", "아라", "한결", "소담"]
FIRM_KINDS = ["전자", "식품", "제약", "건설", "통신", "화학", "소프트", "물산", "자동차", "항공", "바이오",
              "에너지"]
MAJORS = ["물리학", "경제학", "국문학", "컴퓨터공학", "화학", "역사학", "철학", "건축학", "수학", "생물학",
          "음악", "미술"]
JOBS = ["소설가", "화가", "과학자", "건축가", "작곡가", "외교관", "의사", "기업인", "영화감독", "시인"]
AWARDS = ["대한민국 문화상", "한빛 과학상", "올해의 예술인상", "국민훈장", "청년 혁신상", "누리 문학상"]
WORKS = ["푸른 바다", "별이 지는 밤", "마지막 편지", "새벽의 노래", "바람의 길", "작은 정원", "겨울 숲",
         "첫눈", "먼 곳의 불빛", "달과 강"]
PRODUCTS = ["스마트폰", "노트북", "전기차", "냉장고", "로봇 청소기", "태블릿", "무선 이어폰", "세탁기"]
FESTIVAL_THEMES = ["벚꽃", "불꽃", "김치", "재즈", "연등", "머드", "국화", "커피", "빛", "눈꽃"]
TEAMS = ["서울 유나이티드", "부산 갈매기", "대구 스타즈", "인천 파도", "광주 호랑이", "대전 시티즌스",
         "울산 고래", "수원 블루윙", "전주 그린", "강릉 바다"]
STADIUMS = ["중앙 경기장", "시민 운동장", "한빛 스타디움", "바다 구장", "월드컵 경기장"]
BATTLE_PLACES = ["한산도", "행주산성", "귀주", "살수", "명량", "노량", "진주성", "안시성", "처인성"]
KINGDOMS = ["조선", "고려", "고구려", "신라", "백제"]
ENEMIES = ["왜군", "거란군", "수나라 군대", "몽골군", "청나라 군대"]
DISCOVERIES = ["새로운 항생 물질", "초전도 물질", "희귀 식물", "공룡 화석", "고대 유물", "새 행성",
               "암 치료 물질", "빙하 속 미생물"]
INSTITUTES = ["한국과학연구원", "국립생물자원관", "바다연구소", "우주과학센터", "한빛연구원"] + SCHOOLS[:6]
JOURNALS = ["네이처", "사이언스", "한국과학회지", "셀"]
FILLERS = [  # sentences with no answer in them: they make a paragraph longer, and end it
    "이 소식은 많은 사람들의 관심을 받았다.",
    "당시 언론은 이 일을 크게 보도했다.",
    "이후 여러 나라에서 비슷한 일이 이어졌다.",
    "자세한 내용은 관련 기록에 남아 있다.",
    "이 일은 오랫동안 사람들의 입에 오르내렸다.",
    "지금도 많은 사람들이 이 이야기를 기억한다.",
    "전문가들은 앞으로의 변화를 지켜보고 있다.",
    "이에 대한 평가는 지금도 엇갈린다.",
    "많은 사람들이 그 모습을 보기 위해 모여들었다.",
    "이 이야기는 교과서에도 실려 있다.",
    "그 뒤로도 비슷한 시도가 여러 번 있었다.",
    "관계자들은 좋은 결과가 나와 기쁘다고 말했다.",
    "그 무렵 사회는 빠르게 바뀌고 있었다.",
    "사람들은 처음에 이 일을 잘 믿지 않았다.",
    "하지만 시간이 지나면서 생각이 달라졌다.",
    "여러 신문과 방송이 이 내용을 앞다투어 다루었다.",
    "어떤 사람들은 걱정스러운 목소리를 내기도 했다.",
    "그래도 대부분의 사람들은 이를 반겼다.",
    "이 일을 다룬 책과 영화도 여러 편 나왔다.",
    "해외에서도 이 일에 큰 관심을 보였다.",
    "학생들은 이 이야기를 주제로 발표를 하기도 했다.",
    "이 일은 지역 경제에도 적지 않은 영향을 주었다.",
    "비슷한 사례는 그 전에도 몇 번 있었다.",
    "이와 관련된 자료는 박물관에 보관되어 있다.",
    "이 과정에서 크고 작은 어려움도 많았다.",
    "사람들은 서로 힘을 모아 문제를 풀어 나갔다.",
    "이 일로 많은 것이 달라졌다는 평가가 나온다.",
    "당시의 모습을 담은 사진도 여러 장 남아 있다.",
    "이 이야기는 지금도 여러 곳에서 소개되고 있다.",
    "다음 세대에게도 이 이야기가 전해질 것이다.",
]


def date(rng: random.Random, start: int = 1950, end: int = 2024) -> str:
    return f"{rng.randint(start, end)}년 {rng.randint(1, 12)}월 {rng.randint(1, 28)}일"


def amount(rng: random.Random) -> str:
    return rng.choice([f"{rng.randint(2, 900)}억 원", f"{rng.randint(2, 90)}조 원",
                       f"{rng.randint(2, 900)}만 달러"])


def person(rng: random.Random, used=()) -> str:
    return rng.choice([name for name in PER if name not in used])


def values(rng: random.Random, kind: str) -> dict:
    """The slot values of one paragraph of ``kind``."""
    if kind == "person":
        return dict(name=person(rng), job=rng.choice(JOBS), birth=date(rng, 1900, 1990),
                    city=rng.choice(CITIES + FOREIGN_CITIES), school=rng.choice(SCHOOLS),
                    major=rng.choice(MAJORS), work=rng.choice(WORKS), award=rng.choice(AWARDS),
                    award_year=f"{rng.randint(1960, 2023)}년", teacher=person(rng),
                    age=f"{rng.randint(60, 99)}세", count=f"{rng.randint(3, 40)}권")
    if kind == "company":
        name = rng.choice(FIRMS) + rng.choice(FIRM_KINDS)
        return dict(company=name, founded=f"{rng.randint(1950, 2015)}년", founder=person(rng),
                    hq=rng.choice(CITIES), staff=f"{rng.randint(20, 90) * 100}명",
                    sales=amount(rng), product=rng.choice(PRODUCTS), ceo=person(rng),
                    country=rng.choice(COUNTRIES), plants=f"{rng.randint(2, 15)}곳")
    if kind == "festival":
        theme, city = rng.choice(FESTIVAL_THEMES), rng.choice(CITIES)
        return dict(festival=f"{city} {theme} 축제", theme=theme, city=city,
                    start=f"{rng.randint(1, 12)}월 {rng.randint(1, 20)}일",
                    days=f"{rng.randint(2, 10)}일", visitors=f"{rng.randint(2, 90)}만 명",
                    price=f"{rng.randint(1, 30)},000원", first=f"{rng.randint(1980, 2015)}년",
                    host=rng.choice(CITIES) + "시청", singer=person(rng))
    if kind == "battle":
        return dict(battle=rng.choice(BATTLE_PLACES) + " 전투", year=f"{rng.randint(600, 1650)}년",
                    general=person(rng), kingdom=rng.choice(KINGDOMS), enemy=rng.choice(ENEMIES),
                    ships=f"{rng.randint(10, 300)}척", soldiers=f"{rng.randint(1, 90)}천 명",
                    place=rng.choice(BATTLE_PLACES), days=f"{rng.randint(2, 40)}일")
    if kind == "match":
        home, away = rng.sample(TEAMS, 2)
        a, b = rng.sample(range(0, 6), 2)
        high, low = max(a, b), min(a, b)
        return dict(home=home, away=away, score=f"{high}대 {low}", stadium=rng.choice(STADIUMS),
                    date=date(rng, 2000, 2024), mvp=person(rng), goals=f"{rng.randint(2, 4)}골",
                    crowd=f"{rng.randint(5, 60)},000명", coach=person(rng),
                    minute=f"{rng.randint(1, 90)}분")
    if kind == "product":
        maker = rng.choice(FIRMS) + rng.choice(FIRM_KINDS)
        brand = rng.choice(['누리', '다온', '하늘', '별빛', '아라'])
        model = f"{brand} {rng.choice(['X', 'S', 'Z', 'K'])}{rng.randint(1, 20)}"
        return dict(maker=maker, model=model, kind=rng.choice(PRODUCTS),
                    release=date(rng, 2010, 2025), price=f"{rng.randint(10, 300)}만 원",
                    battery=f"{rng.randint(5, 48)}시간", weight=f"{rng.randint(100, 2000)}그램",
                    sold=f"{rng.randint(2, 90)}만 대", city=rng.choice(CITIES + FOREIGN_CITIES),
                    leader=person(rng))
    if kind == "discovery":
        return dict(scientist=person(rng), institute=rng.choice(INSTITUTES),
                    thing=rng.choice(DISCOVERIES), year=f"{rng.randint(1950, 2024)}년",
                    place=rng.choice(CITIES + COUNTRIES), journal=rng.choice(JOURNALS),
                    members=f"{rng.randint(3, 30)}명", years=f"{rng.randint(2, 15)}년",
                    fund=amount(rng))
    raise KeyError(kind)


# Sentence templates per kind: the first ones are always used, in order; a few of the rest
# (shuffled) follow. ``{slot}`` is a value, ``{slot:은}`` a value and its particle.
SENTENCES = {
    "person": (
        ["{job} {name:은} {birth}에 {city}에서 태어났다.",
         "어려서부터 책 읽기를 좋아했던 {name:은} {school}에서 {major:을} 공부했다."],
        ["대학 시절 {name:은} 스승 {teacher}에게서 큰 영향을 받았다.",
         "{name:의} 대표작은 {work:이다}.",
         "{name:은} {award_year}에 {award:을} 받았다.",
         "그는 평생 {count:의} 책을 남겼다.",
         "{name:은} {age:의} 나이로 세상을 떠났다."]),
    "company": (
        ["{company:은} {founded}에 {founder:이} 세운 회사다.",
         "본사는 {hq}에 있으며 직원은 약 {staff:이다}."],
        ["이 회사의 주력 상품은 {product:이다}.",
         "지난해 {company:의} 매출은 {sales:이었다}.",
         "현재 대표는 {ceo:으로} 회사를 이끌고 있다.",
         "{company:은} {country}에도 공장 {plants:을} 두고 있다."]),
    "festival": (
        ["해마다 열리는 {festival:은} {city}의 대표 행사다.",
         "올해 축제는 {start}부터 {days} 동안 열린다."],
        ["이 축제는 {first}에 처음 시작되었다.",
         "지난해에는 관광객 {visitors:이} 축제를 찾았다.",
         "입장료는 어른 기준 {price:이다}.",
         "축제를 주최하는 곳은 {host:이다}.",
         "마지막 날 밤에는 가수 {singer:이} 무대에 오른다."]),
    "battle": (
        ["{battle:은} {year}에 {kingdom:과} {enemy} 사이에 벌어진 싸움이다.",
         "이 전투에서 {kingdom}의 군대를 이끈 사람은 {general:이었다}."],
        ["{enemy:은} 배 {ships:을} 이끌고 쳐들어왔다.",
         "{kingdom}의 병사는 약 {soldiers:이었다}.",
         "싸움은 {days} 동안 이어졌다.",
         "{general:은} 적을 {place} 앞바다로 끌어들여 크게 이겼다."]),
    "match": (
        ["지난 {date}에 열린 경기에서 {home:이} {away:을} {score:으로} 이겼다.",
         "경기는 {stadium}에서 열렸다."],
        ["이날 경기장에는 관중 {crowd:이} 모였다.",
         "최우수 선수로는 {goals:을} 넣은 {mvp:이} 뽑혔다.",
         "첫 골은 경기 시작 {minute} 만에 터졌다.",
         "{home:의} 감독은 {coach:이다}."]),
    "product": (
        ["국내 기업 {maker:은} {release}에 새 {kind} {model:을} 내놓았다.",
         "{model:의} 출고 가격은 {price:이다}."],
        ["배터리는 한 번 충전하면 {battery} 동안 쓸 수 있다.",
         "무게는 {weight:으로} 이전 제품보다 가볍다.",
         "제품은 출시 한 달 만에 {sold:이} 팔렸다.",
         "신제품 발표회는 {city}에서 열렸다.",
         "개발을 이끈 사람은 {leader} 연구소장이다."]),
    "discovery": (
        ["연구 기관 {institute}의 {scientist} 박사 연구팀은 {year}에 {thing:을} 발견했다.",
         "이 연구 결과는 학술지 {journal}에 실렸다."],
        ["연구팀은 {place}에서 시료를 모았다.",
         "연구에는 모두 {members:이} 참여했다.",
         "연구팀은 {years} 동안 이 연구에 매달렸다.",
         "정부는 이 연구에 {fund:을} 지원했다."]),
}

QUESTIONS = {
    "person": {
        "birth": ["{name:은} 언제 태어났나요?", "{name:이} 태어난 날은?", "{name:의} 생일은 언제인가?"],
        "city": ["{name:은} 어디에서 태어났나요?", "{name:의} 출생지는?", "{name:이} 태어난 곳은 어디인가?"],
        "school": ["{name:은} 어느 학교에서 공부했나?", "{name:이} 다닌 학교는?"],
        "major": ["{name:은} 무엇을 공부했나요?", "{name:의} 전공은?"],
        "teacher": ["{name:의} 스승은 누구인가?", "대학 시절 {name:에게} 영향을 준 스승은?"],
        "work": ["{name:의} 대표작은?", "{name:이} 쓴 대표작의 제목은?"],
        "award_year": ["{name:은} 몇 년에 {award:을} 받았나?", "{name:이} 상을 받은 해는?"],
        "award": ["{name:이} 받은 상은?", "{award_year}에 {name:이} 받은 상은 무엇인가?"],
        "count": ["{name:은} 책을 몇 권 남겼나?"],
        "age": ["{name:은} 몇 살에 세상을 떠났나?"],
        "job": ["{name:의} 직업은?"],
    },
    "company": {
        "founded": ["{company:은} 언제 세워졌나?", "{company:이} 설립된 해는?"],
        "founder": ["{company:을} 세운 사람은?", "{company:의} 창업자는 누구인가?"],
        "hq": ["{company:의} 본사는 어디에 있나?", "{company} 본사가 있는 도시는?"],
        "staff": ["{company:의} 직원은 몇 명인가?", "{company}에서 일하는 직원 수는?"],
        "product": ["{company:의} 주력 상품은?"],
        "sales": ["지난해 {company:의} 매출은 얼마였나?", "{company:의} 지난해 매출은?"],
        "ceo": ["{company:의} 현재 대표는 누구인가?"],
        "country": ["{company:은} 어느 나라에 공장을 두고 있나?"],
        "plants": ["{company:은} {country}에 공장을 몇 곳 두고 있나?"],
    },
    "festival": {
        "city": ["{festival:은} 어느 도시의 행사인가?", "{festival:이} 열리는 곳은?"],
        "start": ["올해 {festival:은} 언제부터 열리나?", "{festival:이} 시작하는 날은?"],
        "days": ["올해 {festival:은} 며칠 동안 열리나?", "{festival:의} 기간은?"],
        "first": ["{festival:은} 언제 처음 시작되었나?", "{festival:이} 처음 열린 해는?"],
        "visitors": ["지난해 {festival:을} 찾은 관광객은 몇 명인가?"],
        "price": ["{festival:의} 어른 입장료는 얼마인가?", "{festival} 입장료는?"],
        "host": ["{festival:을} 주최하는 곳은?"],
        "singer": ["{festival} 마지막 날 무대에 오르는 가수는?"],
    },
    "battle": {
        "year": ["{battle:은} 언제 벌어졌나?", "{battle:이} 일어난 해는?"],
        "general": ["{battle}에서 {kingdom} 군대를 이끈 사람은?", "{battle}의 {kingdom} 지휘관은 누구인가?"],
        "enemy": ["{battle}에서 {kingdom:과} 싸운 상대는?"],
        "ships": ["{enemy:은} 배를 몇 척 이끌고 왔나?"],
        "soldiers": ["{battle} 당시 {kingdom}의 병사는 몇 명이었나?"],
        "days": ["{battle:은} 며칠 동안 이어졌나?"],
        "place": ["{general:은} 적을 어디로 끌어들였나?"],
        "kingdom": ["{battle}에서 {enemy:과} 싸운 나라는?"],
    },
    "match": {
        "date": ["{home:과} {away:의} 경기는 언제 열렸나?", "{home:이} {away:을} 이긴 날은?"],
        "score": ["{home:과} {away:의} 경기 결과는?", "{home:은} 몇 대 몇으로 이겼나?"],
        "stadium": ["{home:과} {away:의} 경기가 열린 곳은?", "경기가 열린 경기장은?"],
        "crowd": ["이날 경기장에 모인 관중은 몇 명인가?"],
        "mvp": ["최우수 선수로 뽑힌 사람은?", "이 경기의 최우수 선수는 누구인가?"],
        "goals": ["{mvp:은} 몇 골을 넣었나?"],
        "minute": ["첫 골은 경기 시작 몇 분 만에 나왔나?"],
        "coach": ["{home:의} 감독은 누구인가?"],
    },
    "product": {
        "maker": ["{model:을} 내놓은 회사는?", "{model:은} 어느 회사 제품인가?"],
        "release": ["{model:은} 언제 나왔나?", "{model:의} 출시일은?"],
        "price": ["{model:의} 출고 가격은 얼마인가?", "{model:은} 얼마인가?"],
        "battery": ["{model:은} 한 번 충전하면 얼마나 쓸 수 있나?"],
        "weight": ["{model:의} 무게는?"],
        "sold": ["{model:은} 한 달 만에 몇 대 팔렸나?"],
        "city": ["{model} 발표회가 열린 곳은?"],
        "leader": ["{model:의} 개발을 이끈 사람은?"],
        "kind": ["{model:은} 어떤 제품인가?"],
    },
    "discovery": {
        "scientist": ["{thing:을} 발견한 연구팀을 이끈 사람은?", "{thing:을} 발견한 박사는 누구인가?"],
        "institute": ["{scientist} 박사는 어느 기관 소속인가?", "{thing:을} 발견한 연구팀의 소속은?"],
        "year": ["{scientist} 박사 연구팀은 언제 {thing:을} 발견했나?", "{thing:이} 발견된 해는?"],
        "journal": ["이 연구 결과가 실린 학술지는?", "{scientist} 박사팀의 연구는 어느 학술지에 실렸나?"],
        "place": ["연구팀은 어디에서 시료를 모았나?"],
        "members": ["이 연구에 참여한 사람은 몇 명인가?"],
        "years": ["연구팀은 몇 년 동안 연구했나?"],
        "fund": ["정부가 이 연구에 지원한 돈은 얼마인가?"],
        "thing": ["{scientist} 박사 연구팀이 발견한 것은?"],
    },
}
TITLES = {"person": "{name}", "company": "{company}", "festival": "{festival}", "battle": "{battle}",
          "match": "{home} 대 {away}", "product": "{model}", "discovery": "{thing}"}
SLOT = re.compile(r"\{([a-z_]+)(?::([^}]*))?\}")


def render(template: str, slots: dict, offset: int, spans: dict) -> str:
    """``template`` filled in; the first place each slot's value lands (``offset`` + its position)
    is recorded in ``spans``."""
    out, position = [], 0
    for match in SLOT.finditer(template):
        out.append(template[position:match.start()])
        position = match.end()
        value = slots[match.group(1)]
        start = offset + sum(len(part) for part in out)
        spans.setdefault(match.group(1), start)
        out.append(value + attach(value, match.group(2) or ""))
    out.append(template[position:])
    return "".join(out)


def paragraph(rng: random.Random, kind: str, number: int) -> dict:
    slots = values(rng, kind)
    first, rest = SENTENCES[kind]
    rest = rng.sample(rest, rng.randint(2, len(rest)))
    sentences = first + rest
    fillers = rng.sample(FILLERS, rng.choice([1, 1, 2, 3, 4, 10, 14, 18]))  # some run long
    for filler in fillers[:-1]:
        sentences.insert(rng.randint(1, len(sentences) - 1), filler)
    sentences.append(fillers[-1])  # no answer in the last word (see the module docstring)
    context, spans = "", {}
    for sentence in sentences:
        if context:
            context += " "
        context += render(sentence, slots, len(context), spans)
    asked = [slot for slot in QUESTIONS[kind] if slot in spans and spans[slot] > 0]
    qas = []
    for i, slot in enumerate(rng.sample(asked, min(len(asked), rng.randint(3, 4)))):
        question = render(rng.choice(QUESTIONS[kind][slot]), slots, 0, {})
        answer, start = slots[slot], spans[slot]
        assert context[start:start + len(answer)] == answer
        assert context[start - 1] == " "
        qas.append({"id": f"demo-qa-v1_{number:04d}-{i}", "question": question,
                    "answers": [{"text": answer, "answer_start": start}]})
    title = render(TITLES[kind], slots, 0, {})
    return {"title": title, "paragraphs": [{"context": context, "qas": qas}]}


def write(path: Path, entries: list) -> None:
    """KorQuAD's JSON, one paragraph a line (small, and readable in a diff)."""
    lines = [json.dumps(entry, ensure_ascii=False) for entry in entries]
    path.write_text('{"version": "demo_qa_v1", "data": [\n' + ",\n".join(lines) + "\n]}\n",
                    encoding="utf-8")


def main() -> None:
    rng = random.Random(SEED)
    kinds = sorted(SENTENCES)
    entries = [paragraph(rng, kinds[n % len(kinds)], n) for n in range(CONTEXTS)]
    rng.shuffle(entries)
    cut = int(len(entries) * 0.8)
    OUT_DIR.mkdir(parents=True, exist_ok=True)
    write(OUT_DIR / "KorQuAD_v1.0_train.json", entries[:cut])
    write(OUT_DIR / "KorQuAD_v1.0_dev.json", entries[cut:])
    questions = [len(e["paragraphs"][0]["qas"]) for e in entries]
    print(f"wrote {cut} training and {len(entries) - cut} dev paragraphs "
          f"({sum(questions[:cut])} and {sum(questions[cut:])} questions) to {OUT_DIR}")


if __name__ == "__main__":
    main()
