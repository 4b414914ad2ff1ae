r"""TSP on THUMOS14 with R(2+1)D-34, the published recipe (REFERENCE §6).

  python data/prepare_videos.py --format=thumos14 --annotation_dir=/data/thumos14/annotations \
      --video_root=/data/thumos14/videos --output_dir=/data/thumos_records --fps=15 \
      --short_side=128
  python -m jvrl.main --config=configs/tsp_thumos14_r2plus1d34.py --workdir=/runs/tsp_thumos \
      --config.tsp.initial_encoder=/runs/r2plus1d34_k400/export/encoder \
      --config.data.train_files='/data/thumos_records/validation-*.tfrecord' \
      --config.data.eval_train_files='/data/thumos_records/validation-*.tfrecord' \
      --config.data.eval_test_files='/data/thumos_records/test-*.tfrecord'

TSP trains on THUMOS14's validation videos (3,007 fg + 2,178 bg segments, 20
classes) and tests on its test videos; its features use clip stride 1
(`python -m jvrl.extract_features ... --stride=1`). Everything else, and the
deviations, as `configs/tsp_activitynet_r2plus1d34.py`, with the heads' learning
rate 0.004 (x 2 GPUs). Not run here. Should reach (TSP paper, with G-TAD):
THUMOS14 mAP@0.5 +4.4 over the same model on TAC features.
"""
import ml_collections

from configs import tsp_activitynet_r2plus1d34


def get_config() -> ml_collections.ConfigDict:
  """TSP's THUMOS14 recipe."""
  config = tsp_activitynet_r2plus1d34.get_config(
      num_classes=20, train_segments=3_007 + 2_178, head_learning_rate=0.004)
  config.eval.localization.clip_stride = 1
  return config
