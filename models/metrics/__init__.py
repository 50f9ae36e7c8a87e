"""Quality metrics and evaluation protocols, on numpy arrays shaped (bands, height, width).

`pansharpening`: SAM, ERGAS, Q2n, SCC (against a reference) and D_lambda, D_s, QNR (without).
`evaluation`: the reduced-resolution (Wald) and full-resolution pansharpening protocols.
`dehazing`: PSNR and SSIM. `segmentation`: confusion matrix, IoU, accuracy, kappa.
`classification`: overall and per-class accuracy, kappa.
"""
