"""jvrl: self-supervised video representation learning in JAX/Flax."""
import setuptools

# Versions pinned to the ranges tested together (see ../shared/ENVIRONMENT.md):
# newer releases of jax/flax/orbax change APIs often, so the upper bounds are
# deliberate. Widen them after running the test suite on the new versions.
INSTALL_REQUIRES = [
    "jax>=0.10.2,<0.11",
    "jaxlib>=0.10.2,<0.11",
    "flax>=0.12.8,<0.13",
    "optax>=0.2.8,<0.3",
    "orbax-checkpoint>=0.12.8,<0.13",
    "ml-collections>=1.1.0,<1.2",
    "tensorflow-cpu>=2.21,<2.22",
    "tensorflow-datasets>=4.9.10,<4.10",
    "tensorboard>=2.21,<2.22",  # tf.summary needs it; tensorflow-cpu does not pull it in
    "numpy>=2.0",
    "absl-py",
]

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
    python_requires=">=3.10",
    install_requires=INSTALL_REQUIRES + REPORT_REQUIRES,
    extras_require={
        "report": REPORT_REQUIRES,
        "test": ["pytest>=8", "pytest-xdist"],
        "data": ["av>=12", "pillow>=10"],  # data/prepare_videos.py: decoding, JPEG
    },
)
