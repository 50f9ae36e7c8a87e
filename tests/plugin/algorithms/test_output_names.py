"""Names of results saved without a path: readable, new, and paired with their sidecars."""
from geodistill.plugin.ui.output_names import automatic_output, safe_stem


def test_layer_names_become_safe_file_stems():
    assert safe_stem("WV2 ms (clipped)/v2") == "WV2_ms_clipped_v2"
    assert safe_stem("Données été") == "Données_été"
    assert safe_stem("***") == "result"


def test_names_are_numbered_while_any_file_of_that_stem_exists(tmp_path):
    folder = tmp_path / "results"
    first = automatic_output(folder, "scene 1", "dehaze", "tif")
    assert first == folder / "scene_1_dehaze.tif" and folder.is_dir()
    first.write_bytes(b"")
    assert automatic_output(folder, "scene 1", "dehaze", "tif").name == "scene_1_dehaze_2.tif"
    (folder / "report_evaluate_dehaze.json").write_text("{}")  # a report's sidecar alone
    assert automatic_output(folder, "report", "evaluate_dehaze", "html").name == "report_evaluate_dehaze_2.html"
    assert automatic_output(folder, "", "diagnostics", "html").name == "diagnostics.html"
