#!/usr/bin/env python3
# gen-hub-index.py — write hub/index.json from torchvision's own weight
# enums (DEFAULT weights of every zoo architecture that has published
# ImageNet weights): URL, the hash prefix the file name carries, and the
# preprocessing torchvision's transforms use. Run by hand when torchvision
# changes; the output is committed.
import json, re, sys
import torchvision
import torchvision.models as M

ARCHS = ["resnet18", "resnet34", "resnet50", "resnet101", "resnet152",
         "vgg11", "vgg13", "vgg16", "vgg19",
         "vgg11_bn", "vgg13_bn", "vgg16_bn", "vgg19_bn",
         "mobilenet_v2", "mobilenet_v3_small", "mobilenet_v3_large"]

def main(out):
    models = {}
    for a in ARCHS:
        w = M.get_model_weights(a).DEFAULT if hasattr(M, "get_model_weights") \
            else getattr(M, {"resnet": "ResNet"}.get(a, a)).DEFAULT
        m = re.search(r"-([a-f0-9]+)\.", w.url.rsplit("/", 1)[-1])
        t = w.transforms()
        models[a] = {
            "arch": a,
            "weights": {"url": w.url, "sha256_prefix": m.group(1)},
            "tag": str(w).split(".")[-1],
            "labels": "imagenet",
            "preprocessing": {
                "resize": int(t.resize_size[0]),
                "crop": int(t.crop_size[0]),
                "interpolation": "bilinear",
                "scale": 1.0 / 255.0,
                "mean": list(t.mean), "std": list(t.std),
            },
            "params": w.meta["num_params"],
            "acc@1": w.meta["_metrics"]["ImageNet-1K"]["acc@1"],
        }
    doc = {"nnkit_hub_index": 1,
           "source": "torchvision %s weight enums (DEFAULT)" % torchvision.__version__,
           "models": models}
    with open(out, "w") as f:
        json.dump(doc, f, indent=2)
        f.write("\n")

if __name__ == "__main__":
    main(sys.argv[1] if len(sys.argv) > 1 else "hub/index.json")
