"""jvrl: self-supervised video representation learning in JAX/Flax."""
import setuptools

# Ranges cover the releases run together (README.md, "Install on GPU / TPU",
# says which ran where): newer releases of jax/flax/orbax change APIs often, so
# the upper bounds are deliberate. Widen them after running the test suite on
# the new versions. pip picks jax/jaxlib by the interpreter on its own: jax 0.11
# needs Python >= 3.12, so Python 3.11 gets 0.10.2 (the lower bound CI runs)
# and Python >= 3.12 gets 0.11.x (the suite ran on CPU, the train steps on an
# H200). jax 0.10 itself needs Python 3.11.
INSTALL_REQUIRES = [
    "jax>=0.10.2,<0.12",
    "jaxlib>=0.10.2,<0.12",
    "flax>=0.12.8,<0.13",
    "optax>=0.2.8,<0.3",
    "orbax-checkpoint>=0.12.8,<0.13",
    "ml-collections>=1.1.0,<1.2",
    # Input only, never on an accelerator: the CPU build on every machine,
    # also with the `cuda` and `tpu` extras below.
    "tensorflow-cpu>=2.21,<2.22",
    "tensorflow-datasets>=4.9.10,<4.10",
    "tensorboard>=2.21,<2.22",  # tf.summary needs it; tensorflow-cpu does not pull it in
    "numpy>=2.0",
    "h5py>=3.10",  # per-video feature files (jvrl.extract_features, TSP's GVFs); TF needs it too
    "absl-py",
]

# Accelerators, through jax's own extras, which pin jaxlib, the PJRT plugin and
# NVIDIA's libraries (or libtpu) to the jax release that pip picks above; all
# come from PyPI. `cuda` is CUDA 13, the major version JAX's install guide leads
# with (and the one run on the H200); `cuda12` is for drivers older than CUDA 13.
ACCELERATOR_EXTRAS = {
    "cuda": ["jax[cuda13]"],
    "cuda12": ["jax[cuda12]"],
    "tpu": ["jax[tpu]"],
}

# jvrl.tools.convert_torchvision reads .safetensors state dicts with this (no
# torch needed); .pth files need torch, which jvrl never requires.
WEIGHTS_EXTRA = ["safetensors>=0.4"]

# The evaluation report (jvrl/report/: pictures, t-SNE, projector sprite). Part of
# the plain install, so the main command's `pip install -e .` draws every run's
# report; also named as the extra "report". Resolved here with numpy 2.4 on
# Python 3.11: matplotlib 3.11.2, scikit-learn 1.9.1, threadpoolctl 3.8.0.
# UMAP (`pip install umap-learn`) replaces t-SNE in the feature maps where installed.
REPORT_REQUIRES = [
    "matplotlib>=3.8,<4",
    "scikit-learn>=1.4,<2",
    "threadpoolctl>=3.1",
    "pillow>=10",
]

setuptools.setup(
    name="jvrl",
    version="0.1.0",
    description="Self-supervised video representation learning (CVRL, VATT, PRP) in JAX/Flax.",
    packages=setuptools.find_packages(include=["jvrl", "jvrl.*"]),
    python_requires=">=3.11",
    install_requires=INSTALL_REQUIRES + REPORT_REQUIRES,
    extras_require={
        **ACCELERATOR_EXTRAS,
        "report": REPORT_REQUIRES,
        # The tests cover the .safetensors route of jvrl.tools.convert_torchvision too.
        "test": ["pytest>=8", "pytest-xdist", *WEIGHTS_EXTRA],
        # data/prepare_videos.py: decoding, JPEG. PyAV 19 dropped av.open(metadata_errors=)
        # (jvrl/data/prepare/decode_video.py), and pip gives it to Python >= 3.12.
        # --flow: OpenCV's contrib build has TV-L1 (cv2.optflow.DualTVL1OpticalFlow_create;
        # the plain opencv-python-headless has only Farneback); 5.0.0.93 ran here
        # (Python 3.11, numpy 2.4). Never install both builds: they share the cv2 module.
        "data": ["av>=12,<19", "pillow>=10", "opencv-contrib-python-headless>=4.5"],
        "weights": WEIGHTS_EXTRA,
    },
)
