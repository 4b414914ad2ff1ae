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

# jvrl.tools.convert_torchvision reads .safetensors state dicts with this (no
# torch needed); .pth files need torch, which jvrl never requires.
WEIGHTS_EXTRA = ["safetensors>=0.4"]

setuptools.setup(
    name="jvrl",
    version="0.1.0",
    description="Self-supervised video representation learning (CVRL, VATT, PRP) in JAX/Flax.",
    packages=setuptools.find_packages(include=["jvrl", "jvrl.*"]),
    python_requires=">=3.10",
    install_requires=INSTALL_REQUIRES,
    extras_require={
        # The tests cover the .safetensors route of jvrl.tools.convert_torchvision too.
        "test": ["pytest>=8", "pytest-xdist", *WEIGHTS_EXTRA],
        "data": ["av>=12", "pillow>=10"],  # data/prepare_videos.py: decoding, JPEG
        "weights": WEIGHTS_EXTRA,
    },
)
