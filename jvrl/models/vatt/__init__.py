"""VATT: video-audio-text transformers (REFERENCE §2).

`tokenizers`: patch embeddings of voxels, waveforms and word vectors, with
factorised learned position embeddings. `transformer`: the pre-norm encoder
and DropToken. `vatt`: the per-modality encoders (the video one is the
`vatt_video` backbone of `jvrl.models`), the modality-agnostic encoder
(`vatt_mat`), the fine-and-coarse projection heads and the whole model.
"""
