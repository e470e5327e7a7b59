import pytest

from qvedbench.labels import (
    check_classes, class_key, find_class, leading_part, normalise, parse_exercise, same_class, split_answer,
)

CLASSES = ["squats", "single-leg deadlift", "deadlift", "push-ups", "shoulder press", "jumping jacks"]


@pytest.mark.parametrize("name", ["Push-Ups", "push ups", "push_ups", "  PUSH  ups. ", "push - ups"])
def test_normalise_unifies_case_separators_and_edge_punctuation(name):
    assert normalise(name) == "push ups"


def test_normalise_keeps_inner_punctuation_and_plurals():
    assert normalise("Tricep stretch (right arm)") == "tricep stretch (right arm"
    assert normalise("squats") == "squats"


@pytest.mark.parametrize("a, b", [
    ("squat", "Squats"), ("push-ups", "Pushup"), ("push_ups", "push up"), ("shoulder press", "Shoulder Presses"),
    ("lunges", "lunge"), ("single-leg_deadlift", "Single Leg Deadlift"),
])
def test_same_class_tolerates_plurals_and_separators(a, b):
    assert same_class(a, b)


@pytest.mark.parametrize("a, b", [("squat", "squat jump"), ("deadlift", "single-leg deadlift"), ("press", "presses up")])
def test_same_class_distinguishes_different_names(a, b):
    assert not same_class(a, b)


def test_find_class_maps_folder_slugs_to_configured_names():
    assert find_class("single-leg_deadlift", CLASSES) == "single-leg deadlift"
    assert find_class("push_ups", CLASSES) == "push-ups"
    assert find_class("lunges", CLASSES) is None


def test_check_classes_rejects_empty_and_duplicate_spellings():
    with pytest.raises(ValueError, match="empty"):
        check_classes([])
    with pytest.raises(ValueError, match="'squat' and 'Squats'"):
        check_classes(["squat", "Squats"])
    with pytest.raises(ValueError, match="non-empty"):
        check_classes(["squats", " - "])


@pytest.mark.parametrize("text, expected", [
    # Longest class in the label part wins: both "single-leg deadlift" and "deadlift" are configured.
    ("single-leg deadlift - knees bent too much; soften them", "single-leg deadlift"),
    ("Single-Leg Deadlift (left) - hips rotate open", "single-leg deadlift"),
    ("deadlift - back rounds; brace your core", "deadlift"),
    # Never cut at the first hyphen.
    ("Push-ups - elbows flare out; tuck them", "push-ups"),
    ("pushups - hips sag", "push-ups"),
    ("Shoulder presses - arch in the lower back", "shoulder press"),
    # The label part decides even when the feedback mentions another class.
    ("deadlift - unlike single-leg deadlift, keep both feet down", "deadlift"),
    ("squats - knees cave in - push them out", "squats"),
    # No label part naming a class: the earliest class mentioned anywhere.
    ("Good effort - the person does jumping jacks, later squats", "jumping jacks"),
    ("I see someone performing a single-leg deadlift with a rounded back", "single-leg deadlift"),
    ("This looks like squat form to me", "squats"),
])
def test_parse_exercise(text, expected):
    assert parse_exercise(text, CLASSES) == expected


@pytest.mark.parametrize("text", ["", None, "knees cave in - push them out", "deadlifting is fun", "squatting low"])
def test_parse_exercise_none_when_no_class_is_named(text):
    assert parse_exercise(text, CLASSES) is None


def test_parse_exercise_only_whole_words():
    assert parse_exercise("presquats - x", CLASSES) is None
    assert parse_exercise("squats_0007", CLASSES) == "squats"


def test_split_answer_cuts_at_the_separator_after_the_class():
    assert split_answer("single-leg deadlift - knees bent; soften them", CLASSES) == (
        "single-leg deadlift", "knees bent; soften them")
    assert split_answer("Answer - squats - knees cave in", CLASSES) == ("Answer - squats", "knees cave in")
    assert split_answer("squats \u2013 heels lift", CLASSES) == ("squats", "heels lift")


def test_split_answer_without_a_class_label_returns_everything_as_feedback():
    assert split_answer("  keep your back straight  ", CLASSES) == ("", "keep your back straight")
    assert split_answer("Good form - nothing to fix", CLASSES) == ("", "Good form - nothing to fix")


def test_leading_part():
    assert leading_part("lunges - knee over toes") == "lunges"
    assert leading_part("single-leg deadlift") is None


def test_class_key_is_empty_for_punctuation_only():
    assert class_key(" - ") == ""


def test_longest_class_wins_when_two_start_together():
    classes = ["squats", "squat jump"]
    assert parse_exercise("Squat jump - land softly", classes) == "squat jump"
    assert parse_exercise("squats - knees cave in", classes) == "squats"
    assert parse_exercise("I saw a squat jump", classes) == "squat jump"
