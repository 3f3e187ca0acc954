"""Principles a rule judge can score on real English, for runs with a real pretrained model (SmolLM2-135M-Instruct):
"concise" (antithesis: verbose) and "list" (answer as a bulleted list; antithesis: in flowing prose), a small set of
everyday questions, and the rule judge.

The rule judge for the positive constitution (concise + list) scores a response as
``0.5 * max(0, 1 - words / CONCISE_WORDS) + 0.5 * listed`` on content only (:func:`english_score`); ties (equal
scores) count 0.5 in a win rate. Until session 27 ``listed`` was the fraction of lines that start like a list item,
and every whitespace-separated token was a word: SmolLM2 trained with SAMI learnt to answer "1. 1. 2. 3. 4. ... 14",
which that judge preferred to the base model's real lists (win rate 1.0 on two seeds: a judge exploit; see the README).
The concision term is graded: a pass/fail word limit gave
SmolLM2's greedy answers the top score under the positive *and* the negative constitution (every answer is a short
list when generation stops at 48-64 tokens), so no policy could beat the base model.
"""

from __future__ import annotations

import re

from sami.constitutions import Principle

__all__ = [
    "CONCISE_WORDS",
    "ENGLISH_PRINCIPLES",
    "ENGLISH_QUERIES",
    "english_score",
    "english_score_lines",
    "list_items",
]

ENGLISH_PRINCIPLES = (
    Principle("concise", "Be concise: answer in a few words, at most two short sentences.",
              "Be verbose: give a long answer with many sentences and unnecessary detail."),
    Principle("list", "Answer as a bulleted list, one item per line starting with '- '.",
              "Answer in flowing prose paragraphs, never as a list."),
)  # fmt: skip

CONCISE_WORDS = 60
_WORD = re.compile(r"[A-Za-z]+(?:'[A-Za-z]+)?")
_MARKER = re.compile(r"(?:^|(?<=\s))(?:[-*•]|\d+[.)])\s+", re.MULTILINE)

ENGLISH_QUERIES = (
    "How do I make a cup of tea?", "What should I pack for a weekend camping trip?", "How can I sleep better?",
    "What are some ways to save money on groceries?", "How do I start learning to play the guitar?",
    "What is a good morning routine?", "How do I care for a houseplant?", "What are the benefits of walking every day?",
    "How can I improve my handwriting?", "What should I do before a job interview?", "How do I clean a cast iron pan?",
    "What are some tips for studying for an exam?", "How can I be more productive at work?",
    "What is the best way to learn a new language?", "How do I make a simple salad?",
    "What are some good habits for staying healthy?", "How do I change a flat bicycle tire?",
    "What should I consider when buying a used car?", "How can I reduce stress?", "How do I write a thank-you note?",
    "What are some fun things to do on a rainy day?", "How do I prepare for a long flight?",
    "How can I keep my kitchen clean?", "What are some ways to stay warm in winter?", "How do I plan a birthday party?",
    "What is a healthy breakfast?", "How do I train a puppy to sit?", "How can I make new friends in a new city?",
    "What should I know before running a marathon?", "How do I organize my closet?", "How can I drink more water?",
    "What are some tips for taking better photos with a phone?", "How do I make a budget?",
    "What should I do if I cannot fall asleep?", "How do I start a vegetable garden?", "How can I read more books?",
    "What are good ways to spend a free afternoon?", "How do I keep a conversation going?",
    "How do I bake bread at home?", "What are some tips for working from home?", "How do I pick a good watermelon?",
    "How can I be a better listener?", "What are simple ways to reduce plastic waste?",
    "How do I make coffee without a machine?",
    "What should I bring to a picnic?", "How can I learn to cook?", "How do I prepare for a hike in the mountains?",
    "What are some ways to relax after work?", "How do I remove a coffee stain from a shirt?",
    "How can I improve my public speaking?", "What should I do on my first day at a new job?",
    "How do I choose a good pair of running shoes?", "What are tips for a long car drive?",
    "How do I keep my phone battery healthy?", "How can I stop procrastinating?", "What makes a good cover letter?",
    "How do I make pancakes?", "How can I stay motivated to exercise?", "What should I do when I feel bored?",
    "How do I teach a child to ride a bike?", "What are good ways to remember names?", "How do I store fresh herbs?",
    "How can I make my home more cozy?", "What should I check before a road trip?",
)  # fmt: skip


def english_score(response: str) -> float:
    """Rule judge for "Be concise" + "Answer as a bulleted list" (0..1), on content only (session 27):
    ``0.5 * max(0, 1 - words / CONCISE_WORDS) + 0.5 * listed``, where words are alphabetic words and ``listed`` is
    1 for >= 2 distinct list items with content, 0.5 for one, else 0. An item is the text after a marker ("- ", "* ",
    "• " or "3. " / "3) ", at a line start or inline after a space) with at least two alphabetic words; repeated items
    count once. A response without any alphabetic word scores 0."""
    words = _WORD.findall(response)
    if not words:
        return 0.0
    concise = max(0.0, 1.0 - len(words) / CONCISE_WORDS)  # graded: shorter is more concise
    return 0.5 * concise + 0.5 * min(1.0, 0.5 * len(list_items(response)))


_LINE_ITEM = re.compile(r"^\s*(?:[-*•]|\d+[.)])\s+\S")


def english_score_lines(response: str) -> float:
    """The judge before session 27 (kept to reproduce logged win rates; exploitable by bare numbering): whitespace
    tokens as words, list-ness = 1 for >= 2 lines that start like a list item, else the fraction of such lines."""
    words = response.split()
    if not words:
        return 0.0
    concise = max(0.0, 1.0 - len(words) / CONCISE_WORDS)
    lines = [ln for ln in response.splitlines() if ln.strip()]
    items = sum(bool(_LINE_ITEM.match(ln)) for ln in lines)
    return 0.5 * concise + 0.5 * (1.0 if items >= 2 else items / max(len(lines), 1))


def list_items(response: str) -> list[str]:
    """The distinct list items with content of a response (see :func:`english_score`), as lower-case word strings."""
    parts = _MARKER.split(response)
    if len(parts) < 2:  # no marker at all: prose
        return []
    out: list[str] = []
    for part in parts[1:]:  # the text before the first marker is not an item
        item = " ".join(w.lower() for w in _WORD.findall(part))
        if len(item.split()) >= 2 and item not in out:
            out.append(item)
    return out
