"""TSP's report: one column per encoder and a timeline per test video."""
import json
import os

from conftest import make_tiny_tsp_config, make_video_localization
from jvrl.evaluation import saved_outputs
from jvrl.report import build

ENCODERS = ("tsp", "tac", "initial", "random_init")


def test_tsp_report_draws_timelines(tmp_path, synthetic_cache_dir):
  workdir = str(tmp_path)
  config = make_tiny_tsp_config(synthetic_cache_dir)
  videos = [make_video_localization("video_a", 6, 2), make_video_localization("video_b", 4, 1)]
  saved_outputs.save_localization_outputs(workdir, {e: videos for e in ENCODERS})
  results = {f"{e}_{m}": 0.5 for e in ENCODERS for m in ("fgbg_auc", "localization_map@0.5")}
  with open(os.path.join(workdir, "eval", "results.json"), "w") as f:
    json.dump(results, f)
  with open(os.path.join(workdir, "config.json"), "w") as f:
    f.write(config.to_json())
  report = build.build_report(workdir)
  assert report.problems == []
  assert report.sections == ["Results", "Localization timelines (test videos)",
                             "Training curves", "Command and config"]
  assert sorted(report.figures) == ["timeline_00.png", "timeline_01.png"]
  with open(report.path) as f:
    page = f.read()
  assert "<th>tsp</th><th>tac</th><th>initial</th><th>random_init</th>" in page
  assert "<td>fgbg_auc</td><td>0.5000</td>" in page
  assert os.path.isfile(os.path.join(workdir, "eval", "figures", "timeline_01.png"))
