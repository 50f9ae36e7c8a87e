"""Small synthetic clear scenes for the dehazing tests."""
import numpy as np
import torch
import torch.nn.functional as F


def clear_scene(bands: int = 3, size: int = 96, seed: int = 0) -> np.ndarray:
    """A clear (bands, size, size) float32 image in [0.1, 0.9]: smooth shading plus
    sharp-edged regions, drawn independently for each band."""
    generator = torch.Generator().manual_seed(seed)
    shading = F.interpolate(torch.rand(1, bands, 6, 6, generator=generator), size=(size, size),
                            mode="bilinear", align_corners=False)
    regions = F.interpolate(torch.rand(1, bands, 12, 12, generator=generator), size=(size, size),
                            mode="nearest")
    return (0.1 + 0.4 * shading + 0.4 * regions)[0].numpy().astype(np.float32)
