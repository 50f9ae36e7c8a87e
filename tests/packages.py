"""Model packages the tests make: untrained nets, packaged as a user would get them."""
import torch

from geodistill.models import nets
from geodistill.models.package import ModelCard, save_package


def untrained_dehaze_lite(path, name: str, bands: int = 3):
    """A `bands`-band lite dehazing student with seeded random weights, saved at `path`."""
    torch.manual_seed(0)
    net = nets.build("dehaze_lite", {"bands": bands})
    save_package(path, net.state_dict(), ModelCard(name=name, task="dehazing",
                                                   architecture="dehaze_lite", config={"bands": bands}))
    return path
