"""Small hand-written raw tables in the contract, for tests that must not depend on the demo generator."""

from __future__ import annotations

import json

import pandas as pd


def card(nmid: int, query: str, *, title: str | None = None, description: str = "Удобная модель на каждый день.",
         shows: int = 10, views: int = 5, carts: int = 1, gender: str = "Женский", parent: str = "Обувь",
         subject: str = "Кроссовки", brand: str = "Nike", deleted: bool = False, adult: bool = False) -> dict:
    return {
        "aggregated_charc_values": json.dumps({"Пол": [gender], "Состав": ["текстиль"]}, ensure_ascii=False),
        "title": title if title is not None else f"{subject} модель {nmid}",
        "description": description,
        "subjectname": subject,
        "brandname": brand,
        "parentname": parent,
        "colornames_list": json.dumps(["черный"], ensure_ascii=False),
        "isadult": adult,
        "isdeleted": deleted,
        "nmid": nmid,
        "query": query,
        "show_cl_cnt": shows,
        "view_cl_cnt": views,
        "cart_cl_cnt": carts,
    }


def raw_tables(n_products: int = 40) -> dict[str, pd.DataFrame]:
    cards, reviews, qa = [], [], []
    for i in range(n_products):
        nmid = 100_000 + i
        for j, query in enumerate([f"кроссовки {i}", f"обувь {i % 7}"]):
            cards.append(card(nmid, query, shows=20 - j, views=10 - j, carts=2))
        reviews.append({"review_id": i + 1, "nmid": nmid, "text": f"Отзыв номер {i}: сели хорошо", "rating": 1 + i % 5,
                        "reason": "хорошее качество"})
        qa.append({"qa_id": i + 1, "nmid": nmid, "question": f"Какой размер у модели {i}?", "answer": "Размеры 38-42."})
    support = [
        {"fact_id": f, "intent": f"интент {f % 3}", "fact": f"Факт поддержки {f}.", "question": f"вопрос {q} про факт {f}"}
        for f in range(12)
        for q in range(3)
    ]
    return {
        "cards": pd.DataFrame(cards),
        "reviews": pd.DataFrame(reviews),
        "product_qa": pd.DataFrame(qa),
        "support": pd.DataFrame(support),
    }
