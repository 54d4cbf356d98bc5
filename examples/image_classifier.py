"""An image classifier: a tiny CNN made here (torch -> ONNX, random weights: a
stand-in for a trained one), a TorchScript script that turns an RGB image
(uint8, height x width x 3) into the network's input, and the top-3 classes."""
import os

import numpy as np
import redisai
import torch

from models import torch_onnx

CLASSES = ("airplane", "automobile", "bird", "cat", "deer",
           "dog", "frog", "horse", "ship", "truck")
SIZE = 32

SCRIPT = """
def pre_process(tensors: List[Tensor], keys: List[str], args: List[str]):
    image = tensors[0].float() / 255.0
    return image.permute(2, 0, 1).unsqueeze(0)
"""


def tiny_cnn():
    torch.manual_seed(0)
    net = torch.nn.Sequential(
        torch.nn.Conv2d(3, 8, 3, padding=1), torch.nn.ReLU(), torch.nn.MaxPool2d(2),
        torch.nn.Conv2d(8, 16, 3, padding=1), torch.nn.ReLU(), torch.nn.MaxPool2d(2),
        torch.nn.Flatten(), torch.nn.Linear(16 * (SIZE // 4) ** 2, len(CLASSES)))
    return torch_onnx(net, torch.zeros(1, 3, SIZE, SIZE))


con = redisai.Client(port=int(os.environ.get("PORT", 6379)))
con.modelstore("classifier:model", "ONNX", "CPU", tiny_cnn())
con.scriptstore("classifier:pre", "CPU", SCRIPT, entry_points=["pre_process"])

image = np.random.default_rng(0).integers(0, 256, (SIZE, SIZE, 3), dtype=np.uint8)
con.tensorset("image", image)
con.scriptexecute("classifier:pre", "pre_process", inputs=["image"], outputs=["input"])
con.modelexecute("classifier:model", inputs=["input"], outputs=["logits"])
logits = con.tensorget("logits")[0]

probabilities = np.exp(logits - logits.max())
probabilities /= probabilities.sum()
for c in np.argsort(probabilities)[::-1][:3]:
    print(f"{CLASSES[c]:12} {probabilities[c]:.3f}")
