"""What an evaluation saves for the report: written and read back unchanged."""
import numpy as np

from conftest import make_video_localization
from jvrl.evaluation import multimodal
from jvrl.evaluation import saved_outputs


def test_feature_outputs_round_trip(tmp_path):
  rng = np.random.default_rng(0)
  encoder = saved_outputs.EncoderOutputs(
      train_features=rng.normal(size=(6, 3)).astype(np.float32),
      test_features=rng.normal(size=(4, 3)).astype(np.float32),
      probe_predictions=np.array([0, 1, 1, 0], np.int32),
      neighbours=rng.integers(0, 6, (4, 5)).astype(np.int32))
  labels = np.array([0, 1, 2, 1])
  outputs = saved_outputs.FeatureOutputs(
      train_labels=np.array([0, 1, 2, 0, 1, 2]), test_labels=labels,
      train_filenames=np.array([f"t{i}" for i in range(6)]),
      test_filenames=np.array(["é", "b", "", "d"]),
      class_names=saved_outputs.class_names_from_texts(labels, [b"left", b"", "up", "right"]),
      encoders={"pretrained": encoder, "random_init": encoder})
  assert list(outputs.class_names) == ["left", "right", "up"]
  saved_outputs.save_feature_outputs(str(tmp_path), outputs)
  again = saved_outputs.load_feature_outputs(str(tmp_path))
  assert list(again.encoders) == ["pretrained", "random_init"]
  assert list(again.test_filenames) == ["é", "b", "", "d"]
  for field in ("train_features", "test_features", "probe_predictions", "neighbours"):
    np.testing.assert_array_equal(getattr(again.encoders["random_init"], field),
                                  getattr(encoder, field))
  assert saved_outputs.load_feature_outputs(str(tmp_path / "none")) is None


def test_localization_outputs_round_trip_and_keep_the_first_videos(tmp_path):
  videos = [make_video_localization("a", 5, 2), make_video_localization("b", 0, 0),
            make_video_localization("c", 3, 1)]
  saved_outputs.save_localization_outputs(str(tmp_path), {"tsp": videos, "initial": videos},
                                          max_videos=2)
  again = saved_outputs.load_localization_outputs(str(tmp_path))
  assert list(again) == ["tsp", "initial"]
  assert [v.video_id for v in again["tsp"]] == ["a", "b"]
  for original, loaded in zip(videos, again["initial"]):
    np.testing.assert_array_equal(loaded.foreground_probability, original.foreground_probability)
    np.testing.assert_array_equal(loaded.class_probabilities, original.class_probabilities)
    np.testing.assert_array_equal(loaded.segments, original.segments)
    np.testing.assert_array_equal(loaded.detections.scores, original.detections.scores)
    assert loaded.duration == original.duration


def test_zero_shot_examples_rank_the_caption_s_own_video_first_when_aligned():
  rng = np.random.default_rng(0)
  n, k, d = 12, 2, 8
  video = rng.normal(size=(n, d))
  test = {"video_vt": video, "text_vt": video[:, None] + 0.01 * rng.normal(size=(n, k, d)),
          "caption_mask": np.ones((n, k), bool), "label": np.arange(n) % 3,
          "captions": np.array([[f"caption {i}", f"other {i}"] for i in range(n)]),
          "filename": np.array([f"v{i}" for i in range(n)])}
  examples = multimodal.zero_shot_examples(test, num_queries=4, k=3)
  assert [e["video"] for e in examples] == [0, 4, 7, 11]  # spread over the split
  for example in examples:
    assert example["ranked"][0] == example["video"] and example["rank"] == 1
    assert example["caption"] == f"caption {example['video']}"
    assert len(example["ranked"]) == len(example["scores"]) == 3
