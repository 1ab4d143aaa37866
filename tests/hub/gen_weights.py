#!/usr/bin/env python3
"""gen_weights.py — reference data for the hub tests, made with torch:

  gen_weights.py OUT LENET5_PTH

OUT/files/mobilenet_v3_small-<sha256[:8]>.pth  torchvision's
    mobilenet_v3_small with random weights and BatchNorm statistics, saved
    with torch.save and named the way torchvision names published weights;
OUT/mnv3s_in.npy, OUT/mnv3s_out.npy  an input and torch's eval output;
OUT/lenet5_in.npy, OUT/lenet5_out.npy  the same for LENET5_PTH loaded
    into a torch LeNet-5 (the zoo's layout).
Prints the mobilenet file name.
"""
import hashlib, os, sys
import numpy as np
import torch
import torch.nn as nn
import torch.nn.functional as F
import torchvision


class LeNet5(nn.Module):
    def __init__(self):
        super().__init__()
        self.conv1 = nn.Conv2d(1, 6, 5, padding=2)
        self.conv2 = nn.Conv2d(6, 16, 5)
        self.fc1 = nn.Linear(400, 120)
        self.fc2 = nn.Linear(120, 84)
        self.fc3 = nn.Linear(84, 10)

    def forward(self, x):
        x = F.max_pool2d(F.relu(self.conv1(x)), 2)
        x = F.max_pool2d(F.relu(self.conv2(x)), 2)
        x = torch.flatten(x, 1)
        return self.fc3(F.relu(self.fc2(F.relu(self.fc1(x)))))


def main():
    out, lenet_pth = sys.argv[1], sys.argv[2]
    os.makedirs(os.path.join(out, "files"), exist_ok=True)
    torch.manual_seed(0)
    m = torchvision.models.mobilenet_v3_small().eval()
    with torch.no_grad():
        for mod in m.modules():
            if isinstance(mod, nn.BatchNorm2d):
                mod.running_mean.uniform_(-0.1, 0.1)
                mod.running_var.uniform_(0.5, 1.5)
                mod.weight.uniform_(0.5, 1.5)
                mod.bias.uniform_(-0.1, 0.1)
    tmp = os.path.join(out, "files", "tmp.pth")
    torch.save(m.state_dict(), tmp)
    with open(tmp, "rb") as f:
        sha = hashlib.sha256(f.read()).hexdigest()
    name = "mobilenet_v3_small-%s.pth" % sha[:8]
    os.replace(tmp, os.path.join(out, "files", name))
    x = torch.randn(2, 3, 224, 224)
    with torch.no_grad():
        y = m(x)
    np.save(os.path.join(out, "mnv3s_in.npy"), x.numpy())
    np.save(os.path.join(out, "mnv3s_out.npy"), y.numpy())

    net = LeNet5().eval()
    net.load_state_dict(torch.load(lenet_pth))
    x = torch.randn(3, 1, 28, 28)
    with torch.no_grad():
        y = net(x)
    np.save(os.path.join(out, "lenet5_in.npy"), x.numpy())
    np.save(os.path.join(out, "lenet5_out.npy"), y.numpy())
    print(name)


if __name__ == "__main__":
    main()
