"""Every registered GeoDistill algorithm has a help text that mentions each of its parameters."""
import re


def mentions(help_text: str, definition) -> bool:
    """Whether the help names the parameter (by its name, or its label without the brackets)."""
    text = re.sub(r"<[^>]+>", " ", help_text).lower()
    text = re.sub(r"\s+", " ", text)
    name = definition.name().lower()
    label = definition.description().lower()
    candidates = {name, name.replace("_", " "), label, label.split("(")[0].strip()}
    return any(candidate and candidate in text for candidate in candidates)


def test_every_algorithm_help_mentions_each_parameter(geodistill_provider):
    algorithms = geodistill_provider.algorithms()
    assert algorithms
    gaps = {}
    for algorithm in algorithms:
        help_text = algorithm.shortHelpString()
        assert len(help_text) > 80, f"{algorithm.id()} has no real help text"
        missing = [d.name() for d in algorithm.parameterDefinitions() if not mentions(help_text, d)]
        if missing:
            gaps[algorithm.id()] = missing
    assert gaps == {}, f"help texts that do not mention these parameters: {gaps}"


def test_help_says_what_comes_out(geodistill_provider):
    for algorithm in geodistill_provider.algorithms():
        text = algorithm.shortHelpString().lower()
        assert "output" in text or "report" in text, algorithm.id()
