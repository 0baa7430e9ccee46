"""FAQ matching and the safety check in front of it, and the validation of their knowledge files."""

from __future__ import annotations

import re
import shutil
from datetime import date
from pathlib import Path

import pytest

from bench.faq_bench import HOLDOUT_FILE, Case, baseline, load_cases, load_sets, score
from bot.core.faq import (
    MAX_SUGGESTIONS,
    Answer,
    FaqEntry,
    FaqMatcher,
    NoMatch,
    SafetyRule,
    Suggestions,
    Synonyms,
    Urgency,
    WarningSign,
    alternation,
    check_safety,
    normalise,
)
from bot.knowledge import DEFAULT_DIR, Knowledge, KnowledgeError, load_faq, load_knowledge


@pytest.fixture(scope="module")
def matcher(knowledge: Knowledge) -> FaqMatcher:
    return knowledge.faq.matcher


# The day the messages here are taken as sent: "since September" is months before it.
SENT_ON = date(2026, 12, 2)


def answered(matcher: FaqMatcher, text: str) -> str:
    """What the bot does with a message, as one comparable string."""
    result = matcher.answer(text, SENT_ON)
    match result:
        case Answer(entry=entry):
            return entry.id
        case WarningSign(rule=rule):
            return f"warning:{rule.id}"
        case Suggestions(entries=entries):
            return "suggest:" + ",".join(e.id for e in entries)
        case NoMatch():
            return "none"
    raise AssertionError(result)


# ----------------------------------------------------------------------------- normalisation


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("  How OFTEN?!  ", "how often"),
        ("Dorsiflexión", "dorsiflexion"),
        ("can\u2019t / won't", "cant wont"),
        ("8cm", "8 cm"),
        ("8.5cm or 8,5 cm", "8.5 cm or 8 5 cm"),
        ("7/10 pain", "7/10 pain"),
        ("kneeeee to wall", "knee to wall"),
        ("knee-to-wall...", "knee to wall"),
        ("", ""),
    ],
)
def test_normalise_folds_case_accents_punctuation_and_units(text: str, expected: str) -> None:
    assert normalise(text) == expected


@pytest.mark.parametrize(
    ("variant", "canonical"),
    [
        ("how many times a week", "how often"),
        ("How many days per week", "how often"),
        ("achillies", "achilles"),
        ("Achilis", "achilles"),
        ("dorsi flexion", "dorsiflexion"),
        ("dorsi-flexion", "dorsiflexion"),
        ("dorsification", "dorsiflexion"),
        ("excercise", "exercise"),
        ("exercises", "exercise"),
        ("centimetres", "cm"),
        ("can't", "cant"),
        ("knee 2 wall", "knee to wall"),
    ],
)
def test_synonyms_rewrite_variants(matcher: FaqMatcher, variant: str, canonical: str) -> None:
    assert matcher.normalise(variant) == canonical


@pytest.mark.parametrize(
    "phrases",
    [
        ["ankle", "ankles", "ache"],
        ["a", "ab", "abc"],
        ["foam roll", "foam roller", "roller"],
        ["x"],
    ],
)
def test_alternation_matches_every_phrase_and_prefers_the_longest(phrases: list[str]) -> None:
    pattern = re.compile(rf"\b(?:{alternation(phrases)})\b")
    for phrase in phrases:
        assert pattern.fullmatch(phrase), (phrase, pattern.pattern)
    assert pattern.search("x " + max(phrases, key=len)).group(0) == max(phrases, key=len)
    assert not pattern.fullmatch("zzz")


def test_synonyms_rewrite_longest_first_and_leave_canonical_forms_alone() -> None:
    synonyms = Synonyms.from_groups({"foam roller": ["roller", "foam roll"]})
    assert normalise("a roller", synonyms) == "a foam roller"
    assert normalise("a foam roller", synonyms) == "a foam roller"
    assert normalise("foam roll it", synonyms) == "foam roller it"


# ----------------------------------------------------------------------------- FAQ matching


@pytest.mark.parametrize(
    ("question", "entry"),
    [
        ("How many times a week should I do the excercises?", "how-often"),
        ("what is dorsification", "what-is-dorsiflexion"),
        ("does the achillies release help", "achilles-release"),
        ("HOW DO I MEASURE MY DORSIFLEXION???", "knee-to-wall"),
        ("is 7.5cm ok", "target"),
        ("Is 3 inches good on the knee to wall?", "target"),
        ("does it matter that my ankle clicks", "clicking"),
        ("I feel a stretch in my calf", "where-felt"),
        ("I ruptured my achilles 2 years ago and it's still tight", "thick-achilles"),
        # a part the FAQ does not cover, said to be fine, is context and not the topic
        ("my feet angle out when I walk, my hips and knees are fine. my ankles?", "feet-turn-out"),
        # the question at the end of a long story
        (
            "so i finally did the wall test after reading about it, took me a few goes to keep my "
            "heel down, and im getting about 7 on the left and 7.5 on the right. my mate who "
            "plays rugby got 13 which is annoying. what should a normal person actually be "
            "aiming for",
            "target",
        ),
    ],
)
def test_typos_synonyms_and_paraphrases_find_the_entry(
    matcher: FaqMatcher, question: str, entry: str
) -> None:
    assert answered(matcher, question) == entry


@pytest.mark.parametrize(
    ("question", "entry"),
    [
        ("what is dorsiflexion, my trainer always talks about it", "what-is-dorsiflexion"),
        ("how many days a week should i be doing all this", "how-often"),
        ("can you just give me a list of all the exercises in order", "routine-order"),
    ],
)
def test_everyday_words_around_a_question_do_not_hide_it(
    matcher: FaqMatcher, question: str, entry: str
) -> None:
    """Everyday words the FAQ never uses (knowledge/everyday_words.toml) weigh nothing; without
    that list none of these is answered."""
    assert answered(matcher, question) == entry


@pytest.mark.parametrize(
    ("message", "warned"),
    [
        ("11 cm on the right, 7 on the left, never injured either. is that gap a worry", False),
        ("no pain, just stiff. how often should i stretch", False),
        ("haven't had any surgery, why is my ankle so stiff", False),
        ("not injured but my calf is red, hot and swollen", True),
        ("no swelling but i heard a pop in my achilles and cant walk", True),
        ("a bit of burning in my calf when i stretch, is that ok", False),
        ("burning in my calf for no reason", True),
        ("ruptured my achilles 2 years ago, the tendon is still thick", False),
        ("ruptured my achilles 2 years ago and yesterday heard a pop again", True),
        ("grinding sound when i circle my foot but nothing hurts", False),
        ("my foot keeps rolling to the inside during the stretches", False),
        ("my feet keep turning out when i squat", False),
        ("my ankle keeps rolling out", True),
        ("how tight should my ski boot buckles be", False),
        ("for the nerve flossing does my leg have to be dead straight", False),
    ],
)
def test_denied_mild_or_old_is_not_a_warning_unless_something_is_new(
    matcher: FaqMatcher, message: str, warned: bool
) -> None:
    assert isinstance(matcher.answer(message), WarningSign) is warned


def test_every_phrasing_answers_its_own_entry(matcher: FaqMatcher, knowledge: Knowledge) -> None:
    wrong = [
        (e.id, p, answered(matcher, p))
        for e in knowledge.faq.entries
        for p in e.phrasings
        if answered(matcher, p) != e.id
    ]
    assert len(wrong) <= 3, wrong


@pytest.mark.parametrize(
    "question",
    [
        "what's the weather",
        "best pizza in town",
        "how do I fix my wifi",
        "can you help with my knee replacement rehab",
        "how do I improve my hip mobility",
        "what about plantar fasciitis",
        "/start",
        "?!",
    ],
)
def test_out_of_scope_questions_are_rejected(matcher: FaqMatcher, question: str) -> None:
    assert isinstance(matcher.answer(question), NoMatch)


def test_a_close_call_offers_up_to_three_entries_best_first(matcher: FaqMatcher) -> None:
    result = matcher.answer("calf")
    assert isinstance(result, Suggestions)
    assert 1 < len(result.entries) <= MAX_SUGGESTIONS
    assert list(result.scores) == sorted(result.scores, reverse=True)
    assert all(s >= matcher.close_call for s in result.scores)


def test_close_call_and_confidence_follow_the_thresholds() -> None:
    def entry(entry_id: str, *phrasings: str) -> FaqEntry:
        return FaqEntry(entry_id, "t", entry_id, phrasings, "answer", "source")

    entries = [
        entry("calf", "how do i stretch my calf", "calf stretch"),
        entry("shin", "how do i stretch my shin", "shin stretch"),
    ]
    matcher = FaqMatcher(entries)
    both = matcher.answer("how do i stretch")
    assert isinstance(both, Suggestions)
    assert {e.id for e in both.entries} == {"calf", "shin"}
    assert answered(matcher, "how do i stretch my shin") == "shin"
    strict = FaqMatcher(entries, confident=101)
    assert isinstance(strict.answer("how do i stretch my shin"), Suggestions)


def test_a_question_closest_to_an_out_of_scope_one_is_rejected() -> None:
    """Topic words alone would answer "how often should I stretch my hamstrings" with the
    ankle routine; a listed question it resembles more closely turns it away."""
    entries = [
        FaqEntry("how-often", "t", "How often", ("how often should i stretch",), "a", "s"),
        FaqEntry("calf", "t", "Calf", ("how do i stretch my calf",), "a", "s"),
    ]
    question = "how often should I stretch my hamstrings"
    assert answered(FaqMatcher(entries), question) == "how-often"
    guarded = FaqMatcher(entries, out_of_scope=["how often to stretch hamstrings"])
    assert answered(guarded, question) == "none"
    assert answered(guarded, "how often should I stretch") == "how-often"
    assert [e.id for e, _ in guarded.ranked(question)] == ["how-often", "calf"]


def test_out_of_scope_questions_do_not_change_the_weight_of_words() -> None:
    """They share topic words ("stretch") with entries by design; that must not make those
    words weigh less between the entries themselves."""
    entries = [
        FaqEntry("calf", "t", "Calf", ("how do i stretch my calf",), "a", "s"),
        FaqEntry("shin", "t", "Shin", ("how do i massage my shin",), "a", "s"),
    ]
    plain = FaqMatcher(entries)
    guarded = FaqMatcher(entries, out_of_scope=[f"stretch my {w}" for w in ("neck", "back")])
    assert guarded.ranked("stretch calf") == plain.ranked("stretch calf")


@pytest.mark.parametrize(
    "question",
    ["how are you today", "how do you tie a tie", "how often should I stretch my hamstrings"],
)
def test_the_listed_out_of_scope_questions_turn_near_misses_away(
    matcher: FaqMatcher, question: str
) -> None:
    """Each shares a word with a phrasing ("today", "tie", "how often", "stretch") and was
    answered with that entry before knowledge/out_of_scope.toml."""
    assert answered(matcher, question) == "none"


def test_number_is_not_read_as_numb(matcher: FaqMatcher) -> None:
    assert matcher.query_key(matcher.normalise("what numbers should I get")).split() == [
        "what",
        "number",
    ]


def test_a_telegram_sized_message_is_handled(matcher: FaqMatcher) -> None:
    long_question = ("how often should i do the exercises " * 200)[:4096]
    assert answered(matcher, long_question) == "how-often"
    assert isinstance(matcher.answer("x" * 4096), NoMatch)
    assert isinstance(matcher.answer("ankle " * 5000), Answer | Suggestions | NoMatch)


def test_a_warning_sign_late_in_a_long_message_is_still_seen(matcher: FaqMatcher) -> None:
    story = "I have been stretching my calves every day. " * 85 + "Yesterday my achilles popped."
    assert len(story) <= 4096
    assert answered(matcher, story) == "warning:achilles-rupture"


# ----------------------------------------------------------------------------- safety


def test_safety_wins_over_a_matching_faq_question(matcher: FaqMatcher) -> None:
    assert answered(matcher, "my achilles popped, which stretch should I do?") == (
        "warning:achilles-rupture"
    )
    question = "I heard a snap in my calf, how long should I hold the calf stretch on the step?"
    assert isinstance(matcher.match(question), Answer)
    assert answered(matcher, question) == "warning:achilles-rupture"


@pytest.mark.parametrize(
    ("message", "rule"),
    [
        # a break already in the hands of a team is theirs to manage, not a suspected one
        ("cast came off last week after I broke my ankle, which exercises first?", "recent-injury"),
        ("slipped off a ladder and my ankle looks a weird shape now", "fracture"),
        ("went over on it at the bus stop and I can only hop", "fracture"),
        # pain from the exercises that has not settled is the pain rule's, not an injury
        ("did the eccentric drops yesterday and my shins still hurt this morning", "pain"),
        ("I heard a pop in my achillies", "achilles-rupture"),
        ("felt like someone kicked me in the back of the heel", "achilles-rupture"),
        ("I can't walk 4 steps after rolling my ankle", "fracture"),
        ("my calf is red, hot and swollen", "dvt"),
        ("chest pain and my calf is swollen", "chest-symptoms"),
        ("my foot is numb", "nerve"),
        ("my foot is pale and cold", "circulation"),
        ("ankle is hot and swollen and I have a fever", "hot-joint"),
        ("I'm diabetic, can I do these stretches?", "diabetes"),
        ("I had surgery on my ankle 3 weeks ago", "recent-injury"),
        ("still in a boot after my rupture", "recent-injury"),
        ("sharp pain in the lunge", "pain"),
        ("the stretch hurts about 7/10", "pain"),
        ("no improvement after 6 months of stretching", "no-progress"),
        ("since early September I've done them most days, still zero change", "no-progress"),
        (
            "did the routine all through the winter, wall test hasn't moved, it's spring now",
            "no-progress",
        ),
        ("stuck at 7cm since before the summer holidays despite doing everything", "no-progress"),
        ("doing the stretches since I started my new job and nothing has shifted", "no-progress"),
        ("still in a boot after my fracture", "recent-injury"),
        ("I've been stretching for a year and it's still tight", "no-progress"),
        ("the ankle pain wakes me up at night", "no-progress"),
        ("I hurt my ankle playing football on Saturday", "recent-injury"),
        ("I've been limping since the weekend", "injury-or-symptom"),
        ("my ankle is swolen after football", "swelling"),
        ("had surgury on my achilles", "recent-injury"),
        ("my foot's gone a strange blue colour", "circulation"),
        ("I can't push through my toes since the match", "achilles-rupture"),
        ("my heel hurts when I walk", "injury-or-symptom"),
        (
            "my ankle has been sore for a week since a long hike, fine to stretch it?",
            "injury-or-symptom",
        ),
    ],
)
def test_warning_signs_get_the_rule_that_fits(matcher: FaqMatcher, message: str, rule: str) -> None:
    assert answered(matcher, message) == f"warning:{rule}"


@pytest.mark.parametrize(
    "message",
    [
        "does it matter that my ankle clicks",
        "my ankle pops when I do the circles",
        "I feel a stretch in my calf",
        "my calves feel tight",
        "I warm up my calves before stretching",
        "what number should I aim for",
        "is it normal to feel pain when stretching",
        "I have been stretching for 2 weeks and nothing changed",
        "can I go back to sport after an achilles tear",
        "I ruptured my achilles 16 months ago and the front of my ankle feels blocked",
        "I can't squat without my heels lifting",
        "is walking on my heels dorsiflexion",
        "there's a huge difference between my ankles",
        "what's the opposite of dorsiflexion",
        "is pain normal during the stretches",
        "is it normal to feel a stretch",
        "I feel it in my calf",
        "my ankle clicks but doesn't hurt",
        "I have weak ankles, will strengthening help",
        "I sprained my ankle years ago and it's been stiff since",
        "my calf hurts a little in the lunge",
        "how do I treat a sprained wrist",
        "er, what is dorsiflexion",
        # round 15's false alarms: "rising" is no typo of "bruising" (first letters differ),
        # an idea that seems backwards is no deformity, a volleyball spike no spike of pain
        "I can't hit depth without my heels rising and I tip backwards. Is that an ankle thing?",
        "why would strengthening my shins give me more range? seems backwards tbh",
        "volleyball q: how do i time my spike approach better",
        "been doing the stretches daily since last week and no change yet",
    ],
)
def test_ordinary_questions_do_not_raise_an_alarm(matcher: FaqMatcher, message: str) -> None:
    assert not isinstance(matcher.answer(message, SENT_ON), WarningSign)


@pytest.mark.parametrize(
    ("message", "rule"),
    [
        ("my ankle is swolen after football", "swelling"),  # a typo keeps its first letter
        ("I get pain spikes in my ankle during the lunge", "pain"),
        ("after the crash my foot is pointing backwards", "fracture"),
    ],
)
def test_look_alike_fixes_keep_the_real_sign(matcher: FaqMatcher, message: str, rule: str) -> None:
    assert answered(matcher, message) == f"warning:{rule}"


def test_the_most_urgent_rule_answers_and_old_injuries_are_not_recent() -> None:
    def rule(rule_id: str, urgency: Urgency, pattern: str, unless: str = "") -> SafetyRule:
        return SafetyRule(
            rule_id,
            rule_id,
            urgency,
            "advice",
            "source",
            patterns=(re.compile(pattern),),
            unless=(re.compile(unless),) if unless else (),
        )

    rules = [
        rule("recent", Urgency.PROMPT, r"\bsurgery\b", unless=r"\byears ago\b"),
        rule("numb", Urgency.PROMPT, r"\bnumb\b"),
        rule("cold", Urgency.URGENT, r"\bcold\b"),
    ]
    warning = check_safety("numb and cold foot", rules)
    assert warning is not None and warning.rule.id == "cold"
    assert check_safety("surgery two years ago", rules) is None
    warning = check_safety("Surgery last week", rules)
    assert warning is not None and warning.rule.id == "recent"
    assert check_safety("my ankle is stiff", rules) is None


def test_every_rule_has_advice_with_its_urgency(knowledge: Knowledge) -> None:
    rules = knowledge.faq.rules
    assert {r.urgency for r in rules} == set(Urgency)
    assert all(r.advice.startswith("<b>") and r.source.startswith("clinical notes") for r in rules)


# ----------------------------------------------------------------------------- the knowledge


def test_the_faq_covers_the_article_and_the_comments(knowledge: Knowledge) -> None:
    faq = knowledge.faq
    assert len(faq.entries) >= 30
    sources = " ".join(e.source for e in faq.entries)
    for comment in (2, 4, 5, 7, 9, 10, 13, 14, 15):
        assert f"comment {comment} (reply)" in sources, comment
    for topic in faq.topics:
        assert faq.in_topic(topic.id)
    linked = {x for e in faq.entries for x in e.exercises}
    assert linked == {e.id for e in knowledge.exercises}


def test_no_commenter_is_named(knowledge: Knowledge) -> None:
    names = ("Mark", "George", "Jo", "Nelson", "Ronnie", "Brad", "Jeff", "Montana", "Mathias")
    texts = [e.answer for e in knowledge.faq.entries] + [r.advice for r in knowledge.faq.rules]
    for name in (*names, "Ekrem"):
        assert not any(re.search(rf"\b{name}\b", t) for t in texts), name


def broken(tmp_path: Path, file: str, old: str, new: str) -> Path:
    """A copy of the knowledge directory with one edit, which must apply exactly once."""
    directory = tmp_path / "knowledge"
    shutil.copytree(DEFAULT_DIR, directory)
    path = directory / file
    text = path.read_text("utf-8")
    assert text.count(old) == 1, f"{old!r} is not unique in {file}"
    path.write_text(text.replace(old, new), "utf-8")
    return directory


@pytest.mark.parametrize(
    ("file", "old", "new", "message"),
    [
        (
            "faq.toml",
            'id = "clicking"\ntopic = "routine"\ntitle = "My ankle clicks"\nphrasings = [\n',
            'id = "clicking"\ntopic = "routine"\ntitle = "My ankle clicks"\nxphrasings = [\n',
            "faq.toml: entry 'clicking': 'phrasings' must be a list of non-empty strings",
        ),
        (
            "faq.toml",
            '    "should the exercises hurt",\n',
            '    "should the exercises hurt",\n    "How do I do ankle circles?",\n',
            "faq.toml: entry 'ankle-circles': phrasing 'how do i do ankle circles' matches the "
            "same words as 'How do I do ankle circles?' of entry 'pain'",
        ),
        (
            "asked.toml",
            '"how-often" = [\n',
            '"how-oftne" = [\n',
            "asked.toml: entry 'how-oftne': is not an entry of faq.toml",
        ),
        (
            "asked.toml",
            '"how-often" = [\n',
            '"how-often" = [\n    "Should the exercises hurt?",\n',
            "asked.toml: entry 'how-often': phrasing 'Should the exercises hurt?' matches the "
            "same words as 'should the exercises hurt' of entry 'pain'",
        ),
        (
            "out_of_scope.toml",
            "questions = [\n",
            'questions = [\n    "Should the exercises hurt?",\n',
            "out_of_scope.toml: question 'Should the exercises hurt?' matches the same words as "
            "'should the exercises hurt' of entry 'pain'",
        ),
        (
            "out_of_scope.toml",
            "questions = [\n",
            'questions = [\n    "thank you!",\n    "Thank you",\n',
            "out_of_scope.toml: question 'Thank you' is listed twice",
        ),
        (
            "everyday_words.toml",
            "\nable about act ",
            "\nAble about act ",
            "everyday_words.toml: 'Able' is not a lower-case word",
        ),
        (
            "faq.toml",
            'related = ["clicking", "routine-order"]',
            'related = ["clicking", "routine-ordre"]',
            "faq.toml: entry 'ankle-circles': related names unknown entry 'routine-ordre'",
        ),
        (
            "faq.toml",
            'exercises = ["shin-release"]',
            'exercises = ["shin-massage"]',
            "faq.toml: entry 'shin-restriction': exercises names 'shin-massage', which is not in "
            "exercises.toml",
        ),
        (
            "faq.toml",
            'source = "comment 15 (reply)"',
            'source = ""',
            "faq.toml: entry 'bow-legs': 'source' must be a non-empty string",
        ),
        (
            "faq.toml",
            "<b>20 circles in each direction.</b>",
            "<b>20 circles in each direction.",
            "faq.toml: entry 'ankle-circles': answer: <b> is never closed",
        ),
        (
            "faq.toml",
            "<b>20 circles in each direction.</b>",
            "<u>20 circles in each direction.</u>",
            "faq.toml: entry 'ankle-circles': answer: tag <u> is not allowed",
        ),
        (
            "faq.toml",
            'title = "Bow legs"',
            'title = "Bow legs, knock knees and everything in between"',
            "faq.toml: entry 'bow-legs': title is 47 characters, at most 40",
        ),
        (
            "faq.toml",
            'topic = "injury"\ntitle = "Tight after an Achilles rupture"',
            'topic = "injuries"\ntitle = "Tight after an Achilles rupture"',
            "faq.toml: entry 'thick-achilles': 'topic' names unknown topic 'injuries'",
        ),
        (
            "faq.toml",
            '    "is clicking bad",\n',
            '    "is clicking bad",\n    "my ankle popped and now it clicks",\n',
            "faq.toml: entry 'clicking': phrasing 'my ankle popped and now it clicks' triggers "
            "safety rule 'achilles-rupture'",
        ),
        (
            "faq.toml",
            '"soleus" = [\n    "sole ease",',
            '"soleus" = [\n    "gastroc", "sole ease",',
            "faq.toml: synonym 'soleus': variant 'gastroc' is also listed under 'gastrocnemius'",
        ),
        (
            "safety.toml",
            'urgency = "prompt"\nkeywords = [\n    "pins and needles"',
            'urgency = "soonish"\nkeywords = [\n    "pins and needles"',
            "safety.toml: rule 'nerve': unknown urgency 'soonish'",
        ),
        (
            "safety.toml",
            '"my foot has gone numb",',
            '"my foot has gone numb",\n    "my foot is a bit stiff",',
            "safety.toml: rule 'nerve': example 'my foot is a bit stiff' does not trigger the rule",
        ),
        (
            "safety.toml",
            "patterns = ['\\bdiabet\\w*',",
            "patterns = ['\\bdiabet(\\w*',",
            "safety.toml: rule 'diabetes': patterns: bad regular expression",
        ),
        (
            "safety.toml",
            'advice = """<b>Get this seen today.</b>',
            'advice = """<b>Get this seen today.',
            "safety.toml: rule 'hot-joint': advice: <b> is never closed",
        ),
        (
            "safety.toml",
            "'\\bchest\\b.{0,25}\\b({pain}|",
            "'\\bchest\\b.{0,25}\\b({pains}|",
            "safety.toml: rule 'chest-symptoms': patterns: unknown term {pains}",
        ),
        (
            "safety.toml",
            "lingering = [\n",
            "lingering = [\n    '{effort} and more',\n",
            "safety.toml: term 'lingering': {effort} must be a term defined above it",
        ),
    ],
)
def test_knowledge_errors_name_the_file_and_the_entry(
    tmp_path: Path, file: str, old: str, new: str, message: str
) -> None:
    directory = broken(tmp_path, file, old, new)
    with pytest.raises(KnowledgeError) as error:
        load_knowledge(directory)
    assert str(error.value).startswith(message), str(error.value)


def test_load_faq_alone_reads_both_files(knowledge: Knowledge) -> None:
    faq = load_faq(DEFAULT_DIR, [e.id for e in knowledge.exercises])
    assert [e.id for e in faq.entries] == [e.id for e in knowledge.faq.entries]
    assert faq.entry("how-often") is not None and faq.entry("nope") is None


# ----------------------------------------------------------------------------- evaluation floors

# Measured with `bench/faq_bench.py --tune-only`, minus a small margin. Tune (all of
# faq_eval.toml: the spent holdouts of rounds 2-16 and 18-21 and the safety stress set, whose 60
# benign look-alikes are the hardest in-scope questions in it): 2280/2326 top-1, 653/658
# rejected, 1375/1375 warnings. Former holdout (its was_holdout cases): 1720/1728 top-1, 593/597
# rejected, 762/762 warnings. Their questions are in knowledge/asked.toml and out_of_scope.toml
# now, so these only check that nothing broke; the blind holdout below is the measure.
FLOORS = {
    "tune": {"top1": 0.97, "rejected": 0.98, "recall": 1.0},
    "former holdout": {"top1": 0.99, "rejected": 0.98, "recall": 1.0},
}
# Questions that are not warning signs but mention a warning word in a way the rules cannot
# tell apart from one; a clinician's advice is the cautious mistake. Any other false alarm fails.
KNOWN_FALSE_ALARMS = {
    "what socks stop blisters on long hikes",  # a blister can be a wound
    "ankle tattoo how much does it hurt",  # pain in the ankle
    "my bunion kills in heels, surgery or toe spacers?",  # surgery, without saying when
    # a calf "like concrete" is how the clinical notes describe a compartment syndrome
    "How many sets of the heels hanging off a step stretch? Cyclist, calves like concrete",
    # symptom words taken at their word (the safety stress set at the end of faq_eval.toml)
    "Mild discomfort at the end of the band lunge, more of a stretch than a pain, gone as soon "
    "as I stop. How much is too much?",
    "My calves feel warm and a bit shaky near the end of a session, no pain at all. Should the "
    "exercises hurt?",
    "The ball on my Achilles feels a bit tender, like pressing on a tight muscle, fine "
    "afterwards. How long should I rock it?",
    "During traction my whole leg feels floppy and stretched, quite pleasant actually. How many "
    "times should we do it?",
    "Walking on my heels makes my shins ache after a minute, like a muscle burn. Is that "
    "dorsiflexion or the other one?",
    # round 19: a stabbing heel pain, named by a podiatrist; a suspected tear, named by a physio
    # (the rules cannot tell that a clinician has already seen it)
    "I'm 47, a teacher, on my feet all day. Stabbing heel pain with the first steps every morning "
    "and the podiatrist says plantar fasciitis. What's the best treatment, night splints or "
    "injections?",
    "Physio thinks it might be a partial tear of the Achilles rather than a full rupture. I race "
    "triathlons. Will I get back to racing?",
    # round 20: a repair without a date reads as recent; months of stretching with barely any
    # change is the clinical notes' own reason to get assessed, whatever else is asked
    "after my achilles repair my ankle feels blocked at the front",
    "been stretching my calves for months with barely any change, my gym buddy says i need to "
    "strengthen them too. is that actually a thing for ankle range",
    # round 17: a coach who is "sharp" reads like a sharp pain; balance and ankles "never the
    # same" for two years since a fall is, to the rules, no progress (and worth a check anyway)
    "my coach is pretty sharp and reckons my ankle range is holding back my lifts. what are the "
    "main things that restrict it?",
    "Hello, I am 68 and since my fall two years ago my balance and ankles have never been quite "
    "the same. The physio back then was lovely but I have lost the sheet she gave me. My "
    "granddaughter found this bot for me. Could you please tell me what I should do first, "
    "second and so on?",
}
# What the product asked for (issue 3), held on the blind holdout in faq_holdout.toml.
TARGETS = {"top1": 0.95, "rejected": 0.90, "recall": 1.0}
# The blind holdout's one run (round 23, 2026-12-02): 103/107 top-1, 34/38 rejected, 42/42
# warnings, 6 false alarms; nothing tuned on it since. Earlier rounds, each on its own fresh
# set: 94.4/94.7/100 the last before it (round 22); 73.4/84.6/100 (3), 85.5/83.9/97.1 (4),
# 92.8/79.5/97.4 (5), 83.5/83.3/100 (6), 84.7/86.1/100 (7), 84.8/94.4/100 (8), 90.1/97.2/100 (9),
# 89.7/97.4/100 (10, partly in other languages), 96.2/94.7/97.4 (11), 100/94.7/97.4 (12),
# 94.4/97.4/97.4 (13), 98.1/97.4/97.6 (14), 97.2/92.1/100 (15), 86.9/89.7/100 (16),
# 87.9/94.7/100 (17); development rounds with their own briefs 88.8/92.1/97.7 (18),
# 82.2/76.3/97.6 (19), 88.8/92.1/97.6 (20), 93.5/81.6/88.1 (21).
# Floors just below its figures, so a regression shows.
HOLDOUT_FLOORS = {"top1": 0.96, "rejected": 0.89, "recall": 1.0}


def _holdout(knowledge: Knowledge) -> list[Case]:
    if not HOLDOUT_FILE.exists():
        pytest.skip(f"{HOLDOUT_FILE.name} is not written yet")
    cases = load_sets()["holdout"]
    entries = {e.id for e in knowledge.faq.entries}
    rules = {r.id for r in knowledge.faq.rules}
    labels = entries | {"none", "warning"}
    unknown = sum(
        c.expect not in labels or (c.rule is not None and c.rule not in rules) for c in cases
    )
    assert unknown == 0, f"{unknown} holdout cases name an unknown entry or rule"
    return cases


def test_holdout_keeps_its_measured_floors(matcher: FaqMatcher, knowledge: Knowledge) -> None:
    s = score(matcher.answer, _holdout(knowledge))
    assert s.top1_rate >= HOLDOUT_FLOORS["top1"], s
    assert s.rejection_rate >= HOLDOUT_FLOORS["rejected"], s
    assert s.recall >= HOLDOUT_FLOORS["recall"], s


@pytest.fixture(scope="module")
def tune_sets() -> dict[str, list[Case]]:
    return load_sets(holdout=False)


@pytest.mark.parametrize("name", ["tune", "former holdout"])
def test_evaluation_set_meets_its_floors(
    matcher: FaqMatcher, tune_sets: dict[str, list[Case]], name: str
) -> None:
    s = score(matcher.answer, tune_sets[name])
    assert s.in_scope >= 30 and s.out_of_scope >= 10 and s.warnings >= 15
    assert s.top1_rate >= FLOORS[name]["top1"], s
    assert s.rejection_rate >= FLOORS[name]["rejected"], s
    assert s.recall >= FLOORS[name]["recall"], s
    alarms = {
        c.q
        for c in tune_sets[name]
        if c.expect != "warning" and isinstance(matcher.answer(c.q, c.asked_on), WarningSign)
    }
    assert alarms <= KNOWN_FALSE_ALARMS, alarms - KNOWN_FALSE_ALARMS


@pytest.mark.xfail(
    strict=True,
    reason="issue 3 open: round 23 blind rejection is 89.5% (34/38), the target is 90%; "
    "top-1 (96.3%) and warnings (100%) meet theirs. A holdout that meets all three makes "
    "this XPASS: then drop the mark.",
)
def test_holdout_meets_the_product_targets(matcher: FaqMatcher, knowledge: Knowledge) -> None:
    """Only totals are asserted (a failure shows the counts, not the cases). Round 15 met all
    three blind; rounds 16-23, written in more varied styles, did not (faq_eval.toml's history)."""
    s = score(matcher.answer, _holdout(knowledge))
    assert s.top1_rate >= TARGETS["top1"], s
    assert s.rejection_rate >= TARGETS["rejected"], s
    assert s.recall >= TARGETS["recall"], s


def test_evaluation_set_is_labelled_with_known_ids(knowledge: Knowledge) -> None:
    cases = load_cases()
    entries = {e.id for e in knowledge.faq.entries}
    rules = {r.id for r in knowledge.faq.rules}
    assert len(cases) >= 110
    assert all(c.expect in entries | {"none", "warning"} for c in cases)
    assert all(c.rule is None or (c.expect == "warning" and c.rule in rules) for c in cases)
    assert all(c.split == "tune" for c in cases)  # the holdout is its own file
    assert len({c.q.casefold() for c in cases}) == len(cases)
    assert sum(c.was_holdout for c in cases) >= 150


def test_the_baseline_has_no_safety_check(knowledge: Knowledge) -> None:
    warnings = [c for c in load_cases() if c.expect == "warning"]
    assert score(baseline(knowledge.faq.entries), warnings).caught == 0
