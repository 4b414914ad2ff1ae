r"""SVT (DINO self-distillation on a video transformer) + evaluation on the built-in
synthetic motion dataset (CPU).

A tiny video transformer (VATT's video tower: 2 layers of width 64, voxel
patches 2x8x8) learns by self-distillation: an EMA teacher sees 2 global
views (8 frames spread over the 32-frame video, 32x32 crops), the student
sees those and 4 local views (4 consecutive frames of an 8th of the video,
16x16 crops: a higher frame rate and a smaller picture, read by the same
weights through interpolated position tables) and matches the teacher's
centred and sharpened outputs. Then the frozen student backbone is evaluated
like every encoder (linear probe, kNN, retrieval), next to a randomly
initialised one; the teacher's backbone is exported too
(DIR/export/teacher_encoder).

  python -m jvrl.main --config=configs/svt_synthetic.py --workdir=/tmp/jvrl_svt

Machine: 2-core CPU, no accelerator. Its numbers next to CVRL and random init
are not measured yet: `python -m benchmarks.methods --methods=cvrl,svt` runs the
comparison (README.md, "Teachers, memory queues and optical flow").

Deviations from SVT (REFERENCE §4; configs/svt_k400_vitb.py keeps its
recipe) for a CPU run of minutes: a 2-layer width-64 transformer instead of
ViT-B (TimeSformer), 8x32x32 global and 4x16x16 local views instead of
8x224x224 and 96x96 (2-16 frames), 4 local views instead of 8, a DINO head
with 4096 outputs instead of 65536 and 256 / 64 hidden / bottleneck units
instead of 2048 / 256; no horizontal flip (it swaps this dataset's classes);
no teacher-temperature warm-up and no frozen last layer in the first epoch
(DINO's stabilisers for long runs); AdamW at a constant weight decay.

Every field can be overridden from the command line, e.g.
  --config.train.num_steps=200 --config.svt.num_local_views=2
"""
import ml_collections

from configs import cvrl_synthetic


def get_config() -> ml_collections.ConfigDict:
  """Returns the experiment config (see the module docstring)."""
  config = cvrl_synthetic.get_config()  # the same videos as the CVRL main job
  config.objective = "svt"
  del config["cvrl"]
  del config["augment"]
  # Global views: data.clip_length frames at data.crop_size; the evaluation reads
  # clips of the same shape, frame_stride 4 apart (a global view's frame rate).
  config.data.clip_length = 8
  config.data.crop_size = 32
  config.data.frame_stride = 4

  config.model_name = "vatt_video"
  config.model = dict(
      size="", num_layers=2, hidden_size=64, num_heads=2, mlp_dim=256,
      patch_size=(2, 8, 8), pos_buckets=(4, 4, 4),  # 8x32x32 -> 4x4x4 tokens; locals 2x2x2
      drop_token_keep_ratio=1.0, dropout_rate=0.0, dtype="float32",
      input_transform="frame_difference")  # residual frames, as the CVRL main job

  config.svt = ml_collections.ConfigDict()
  config.svt.window_frames = 32       # the sampled window (the whole synthetic video)
  config.svt.num_global_views = 2
  config.svt.global_area = (0.4, 1.0)  # DINO's global crop scale
  config.svt.global_shift = 2          # view 1 ends / view 2 starts this far from the edge
  config.svt.num_local_views = 4       # (SVT: 8)
  config.svt.local_frames = 4          # (SVT: 8, or 2-16 with random frame rates)
  config.svt.local_size = 16           # (SVT: 96 for 224 global views)
  config.svt.local_area = (0.1, 0.4)   # (DINO: 0.05-0.4)
  config.svt.local_span_divisor = 8    # a local view spans window / 8 frames (SVT)
  config.svt.out_dim = 1024            # DINO head outputs (SVT: 65536)
  config.svt.head_hidden_dim = 256     # (2048)
  config.svt.head_bottleneck_dim = 64  # (256)
  config.svt.student_temperature = 0.1
  config.svt.teacher_temperature = 0.04
  config.svt.center_momentum = 0.9
  config.svt.teacher_momentum = (0.996, 1.0)  # cosine over the run
  config.svt.augment = dict(
      aspect_ratio_range=(0.75, 4 / 3), flip_prob=0.0, color_strength=0.5, color_prob=0.8,
      grayscale_prob=0.2, global_blur_prob=(0.0, 0.0), global_solarize_prob=(0.0, 0.2),
      local_blur_prob=0.0)  # no blur at 32x32 / 16x16, as the CVRL main job

  config.train.batch_size = 32
  config.train.num_steps = 1500
  config.train.log_every = 100
  config.train.checkpoint_every = 500
  config.train.export_teacher = True
  config.optimizer = dict(
      name="adamw", learning_rate=3e-4, warmup_steps=100, schedule="cosine",
      end_learning_rate=1e-5, b1=0.9, b2=0.999, eps=1e-8, weight_decay=0.04,
      grad_clip_norm=3.0)
  config.eval.feature_pooling = "avg"  # the transformer's map is its aggregation token
  return config
