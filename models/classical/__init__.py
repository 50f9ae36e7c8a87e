"""Classical, model-free methods: baselines for the learned models and METHOD choices for users.

`pansharpen`: bicubic upsampling, GDAL's weighted Brovey (VRTPansharpenedDataset) and
MTF-GLP with regression injection gains (numpy, plus an `nn.Module` for the tiled engine).
`dehaze`: the dark channel prior (He et al.) with guided-filter refinement.
"""
