"""Writes the CLIP model golden fixtures under tests/fixtures/clip/ with open_clip and transformers.

Re-run from the repository root (deterministic, CPU only, about a minute):

    .venv-ref/bin/python tools/ref/make_clip_fixtures.py

What it writes (see docs/FIXTURES.md):
  tiny_openclip.safetensors        bcos-tiny weights, open_clip names, F32 (values exact in F16)
  tiny_hf.safetensors              the same weights in transformers CLIPModel names, F16
  tiny_hf_config.json              the transformers CLIPConfig those weights were checked with
  tiny_embeddings.safetensors      inputs, float64-computed embeddings and intermediates (stored F32)
  tiny_gelu_embeddings.safetensors the same tensors as tiny_embeddings for bcos-tiny-gelu (erf GELU) with
                                   the same weights (the activation has no parameters, so one weights file
                                   serves both configs)
  prompts.txt                      the prompts behind text_ids, one per line
  shapes.json                      open_clip and transformers names/shapes of ViT-B-32, ViT-B-16, ViT-L-14
  versions.json                    the library versions that produced all of the above

The open_clip -> transformers name map is written here by hand and proven by loading it strictly into
transformers.CLIPModel and comparing get_image_features/get_text_features with open_clip's
encode_image/encode_text in float64.
"""

import json
import math
from pathlib import Path

import numpy as np
import open_clip
import safetensors
import torch
import transformers
from safetensors.torch import save_file

REPO = Path(__file__).resolve().parents[2]
CONFIG_DIR = REPO / "src" / "model" / "configs"
OUT_DIR = REPO / "tests" / "fixtures" / "clip"

TINY_MODELS = {  # config name -> (output prefix, seed)
    "bcos-tiny": ("tiny", 1234),
    "bcos-tiny-gelu": ("tiny_gelu", 1234),  # same seed: the same weights as bcos-tiny
}
REAL_MODELS = ("ViT-B-32", "ViT-B-16", "ViT-L-14")
IMAGE_SEED = 42
REL_TOL = 1e-5

CLIP_MEAN = (0.48145466, 0.4578275, 0.40821073)
CLIP_STD = (0.26862954, 0.26130258, 0.27577711)

PROMPTS = [
    "a photo of a cat",
    "a photo of a dog.",
    "",
    "A BLURRY PHOTO OF A TRUCK",
    "an origami airplane, folded from red paper!",
    "a photo of the number 42 and 3.14159",
    "it's a    photo   with   extra   spaces",
    "a bad photo of a t-shirt/top",
    "ankle boot",
    "a sketch of a sneaker & a sandal",
    "&amp;lt;b&amp;gt;html escaped twice&amp;lt;/b&amp;gt;",
    "naïve café résumé",
    "Straße ÄÖÜ ÉCOLE",
    "日本語のテキスト",
    "emoji 🐱🐶 party 🎉",
    "don't you'll we've I'M they'RE",
    "x",
    "supercalifragilisticexpialidocious",
    "a photo of a bag, a coat, and a dress; the end?",
    "#hashtag @mention http://example.com/path?q=1",
    'a "quoted" word and a \'single\' one',
    "The Quick Brown Fox Jumps Over The Lazy Dog 1234567890",
    # 75 one-token words: SOT + 75 + EOT fill the 77 slots exactly, no padding.
    " ".join(["cat"] * 75),
    # Longer than the context: truncated, the last slot becomes EOT.
    "a photo of " + " ".join(["very"] * 90) + " long prompt",
]


def register_tiny_configs():
    """Makes our tiny configs known to open_clip by name, straight from the repository's files."""
    for name in TINY_MODELS:
        open_clip.add_model_config(CONFIG_DIR / f"{name}.json")


def read_config(name):
    with open(CONFIG_DIR / f"{name}.json") as f:
        return json.load(f)


def f16_exact_nonzero(values):
    """Rounds to values an F16 file holds exactly, redrawing any that land on 0 or 1 so no entry looks like an
    untouched default."""
    out = values.to(torch.float16).to(torch.float32)
    bad = (out == 0) | (out == 1)
    while bad.any():
        out[bad] = (torch.rand(int(bad.sum())) * 0.5 + 0.05).to(torch.float16).to(torch.float32)
        bad = (out == 0) | (out == 1)
    return out


def random_value(name, shape):
    """A random tensor of a sensible scale for the parameter called `name` (open_clip naming)."""
    if name == "logit_scale":
        return torch.empty(shape).uniform_(2.5, 4.5)
    if name.endswith(("ln_1.weight", "ln_2.weight", "ln_pre.weight", "ln_post.weight", "ln_final.weight")):
        return torch.empty(shape).uniform_(0.6, 1.4)
    if name.endswith("bias"):
        return 0.1 * torch.randn(shape)
    if name.endswith("class_embedding") or name == "token_embedding.weight":
        return 0.5 * torch.randn(shape)
    if name.endswith("positional_embedding"):
        return 0.3 * torch.randn(shape)
    if name in ("visual.proj", "text_projection"):  # used as x @ proj: fan-in is the first dim
        return torch.randn(shape) / math.sqrt(shape[0])
    if name.endswith("weight"):  # linear [out, in] and patch conv [out, c, p, p]: fan-in is the rest
        return torch.randn(shape) / math.sqrt(math.prod(shape[1:]))
    raise ValueError(f"no initialisation rule for parameter {name}")


def build_tiny_model(name, seed):
    """open_clip model of config `name` with every parameter redrawn (so no path hides behind a 0 or a 1)
    and every value exact in F16."""
    torch.manual_seed(seed)
    model = open_clip.create_model(name, pretrained=None)
    model.eval()
    with torch.no_grad():
        for pname, param in model.named_parameters():
            param.copy_(f16_exact_nonzero(random_value(pname, tuple(param.shape))))
    return model


def hf_config_from_openclip(cfg, eos_token_id=2):
    """transformers CLIPConfig equivalent to an open_clip config dict. eos_token_id=2 makes transformers pool
    the text at argmax(ids), exactly open_clip's rule (it is also what OpenAI's hub configs carry)."""
    v, t = cfg["vision_cfg"], cfg["text_cfg"]
    act = "quick_gelu" if cfg.get("quick_gelu", False) else "gelu"
    mlp_ratio_v, mlp_ratio_t = v.get("mlp_ratio", 4.0), t.get("mlp_ratio", 4.0)
    text_config = dict(
        vocab_size=t["vocab_size"], hidden_size=t["width"], intermediate_size=int(t["width"] * mlp_ratio_t),
        num_hidden_layers=t["layers"], num_attention_heads=t["heads"],
        max_position_embeddings=t["context_length"], hidden_act=act, layer_norm_eps=1e-5,
        projection_dim=cfg["embed_dim"], bos_token_id=49406, eos_token_id=eos_token_id, pad_token_id=1)
    vision_config = dict(
        hidden_size=v["width"], intermediate_size=int(v["width"] * mlp_ratio_v),
        num_hidden_layers=v["layers"], num_attention_heads=v["width"] // v.get("head_width", 64),
        image_size=v["image_size"], patch_size=v["patch_size"], num_channels=3, hidden_act=act,
        layer_norm_eps=1e-5, projection_dim=cfg["embed_dim"])
    return transformers.CLIPConfig(text_config=text_config, vision_config=vision_config,
                                   projection_dim=cfg["embed_dim"])


# open_clip block-local name -> transformers block-local name (same layout unless listed in QKV_SPLIT).
BLOCK_MAP = {
    "ln_1.weight": "layer_norm1.weight", "ln_1.bias": "layer_norm1.bias",
    "attn.out_proj.weight": "self_attn.out_proj.weight", "attn.out_proj.bias": "self_attn.out_proj.bias",
    "ln_2.weight": "layer_norm2.weight", "ln_2.bias": "layer_norm2.bias",
    "mlp.c_fc.weight": "mlp.fc1.weight", "mlp.c_fc.bias": "mlp.fc1.bias",
    "mlp.c_proj.weight": "mlp.fc2.weight", "mlp.c_proj.bias": "mlp.fc2.bias",
}
# in_proj stacks [q; k; v] along dim 0; transformers keeps three separate projections.
QKV_SPLIT = {"attn.in_proj_weight": "weight", "attn.in_proj_bias": "bias"}
# Non-block names, same layout.
GLOBAL_MAP = {
    "visual.class_embedding": "vision_model.embeddings.class_embedding",
    "visual.positional_embedding": "vision_model.embeddings.position_embedding.weight",
    "visual.conv1.weight": "vision_model.embeddings.patch_embedding.weight",
    "visual.ln_pre.weight": "vision_model.pre_layrnorm.weight",
    "visual.ln_pre.bias": "vision_model.pre_layrnorm.bias",
    "visual.ln_post.weight": "vision_model.post_layernorm.weight",
    "visual.ln_post.bias": "vision_model.post_layernorm.bias",
    "token_embedding.weight": "text_model.embeddings.token_embedding.weight",
    "positional_embedding": "text_model.embeddings.position_embedding.weight",
    "ln_final.weight": "text_model.final_layer_norm.weight",
    "ln_final.bias": "text_model.final_layer_norm.bias",
    "logit_scale": "logit_scale",
}
# open_clip multiplies x @ proj with proj [width, embed]; transformers' nn.Linear holds [embed, width].
TRANSPOSED_MAP = {"visual.proj": "visual_projection.weight", "text_projection": "text_projection.weight"}
TOWER_PREFIXES = (("visual.transformer.resblocks.", "vision_model.encoder.layers."),
                  ("transformer.resblocks.", "text_model.encoder.layers."))


def openclip_to_hf(state):
    """Renames (and splits/transposes where the layouts differ) an open_clip state dict to transformers'."""
    out = {}
    for name, value in state.items():
        if name in GLOBAL_MAP:
            out[GLOBAL_MAP[name]] = value
        elif name in TRANSPOSED_MAP:
            out[TRANSPOSED_MAP[name]] = value.t().contiguous()
        else:
            src_prefix, dst_prefix = next(p for p in TOWER_PREFIXES if name.startswith(p[0]))
            layer, local = name[len(src_prefix):].split(".", 1)
            base = f"{dst_prefix}{layer}."
            if local in QKV_SPLIT:
                for part, chunk in zip(("q", "k", "v"), value.chunk(3, dim=0)):
                    out[f"{base}self_attn.{part}_proj.{QKV_SPLIT[local]}"] = chunk.contiguous()
            else:
                out[base + BLOCK_MAP[local]] = value
    return out


def rel_error(a, b):
    return ((a - b).abs().max() / b.abs().max()).item()


def check_transformers_agrees(cfg, model, images, ids):
    """Loads the mapped weights strictly into transformers.CLIPModel (for both text-pooling conventions) and
    asserts its features equal open_clip's in float64. Returns the model built with eos_token_id=2."""
    ref_model = model.double()
    with torch.no_grad():
        ref_img = ref_model.encode_image(images.double())
        ref_txt = ref_model.encode_text(ids)
    hf_state = openclip_to_hf(model.state_dict())
    checked = None
    for eos in (2, 49407):
        hf = transformers.CLIPModel(hf_config_from_openclip(cfg, eos_token_id=eos)).eval()
        hf.load_state_dict(hf_state, strict=True)
        hf.double()
        with torch.no_grad():
            img = hf.get_image_features(pixel_values=images.double()).pooler_output
            txt = hf.get_text_features(input_ids=ids).pooler_output
        errs = rel_error(img, ref_img), rel_error(txt, ref_txt)
        print(f"  transformers (eos_token_id={eos}) vs open_clip, rel err image {errs[0]:.2e} text {errs[1]:.2e}")
        assert max(errs) < REL_TOL, f"transformers disagrees with open_clip: {errs}"
        if eos == 2:
            checked = hf
    model.float()
    return checked


def make_images():
    """Six inputs in preprocessed (normalised) space: random fields of several kinds plus one smooth,
    photo-like colour pattern normalised with CLIP's mean/std."""
    g = torch.Generator().manual_seed(IMAGE_SEED)
    shape = (3, 32, 32)
    mean = torch.tensor(CLIP_MEAN).view(3, 1, 1)
    std = torch.tensor(CLIP_STD).view(3, 1, 1)
    yy, xx = torch.meshgrid(torch.linspace(0, 1, 32), torch.linspace(0, 1, 32), indexing="ij")
    smooth = torch.stack([
        0.5 + 0.4 * torch.sin(2 * math.pi * (1.3 * xx + 0.2 * yy)),
        0.5 + 0.4 * torch.cos(2 * math.pi * (0.7 * yy - 0.4 * xx)),
        0.3 + 0.6 * torch.exp(-((xx - 0.6) ** 2 + (yy - 0.4) ** 2) / 0.05),
    ])
    binary = (torch.rand(shape, generator=g) > 0.5).float()
    images = torch.stack([
        torch.randn(shape, generator=g),
        0.5 * torch.randn(shape, generator=g) + 0.3,
        4 * torch.rand(shape, generator=g) - 2,
        torch.randn(shape, generator=g) * torch.tensor([0.5, 1.0, 2.0]).view(3, 1, 1),
        (binary - mean) / std,
        (smooth - mean) / std,
    ])
    return images.float().contiguous()


def make_text_ids():
    ids = open_clip.tokenize(PROMPTS)
    assert ids.shape == (len(PROMPTS), 77)
    assert (ids.argmax(dim=-1) == (ids == 49407).int().argmax(dim=-1)).all(), "EOT must be the argmax"
    return ids


def reference_outputs(model, images, ids):
    """Embeddings and intermediates computed in float64 (model.double()), stored as F32."""
    captured = {}

    def keep(key):
        return lambda _module, _inputs, output: captured.__setitem__(key, output)

    model.double()
    hooks = [model.visual.ln_pre.register_forward_hook(keep("vision_ln_pre")),
             model.visual.transformer.resblocks[0].register_forward_hook(keep("vision_block0")),
             model.transformer.resblocks[0].register_forward_hook(keep("text_block0"))]
    with torch.no_grad():
        image_embeddings = model.encode_image(images.double())
        text_embeddings = model.encode_text(ids)
    for h in hooks:
        h.remove()
    model.float()
    with torch.no_grad():  # how far a plain float32 forward lands from the float64 truth, for test tolerances
        print(f"  float32 forward vs float64: image rel err {rel_error(model.encode_image(images), image_embeddings):.2e}"
              f", text {rel_error(model.encode_text(ids), text_embeddings):.2e}")
    tensors = dict(captured, image_embeddings=image_embeddings, text_embeddings=text_embeddings)
    out = {k: v.float().contiguous() for k, v in tensors.items()}
    out["images"] = images
    out["text_ids"] = ids.to(torch.int32).contiguous()
    out["logit_scale"] = model.logit_scale.detach().float().clone()
    return out


def openclip_state(model):
    """Persistent state of the model under open_clip's own names, as F32."""
    return {k: v.detach().float().contiguous() for k, v in model.state_dict().items()}


def make_tiny_fixtures(images, ids):
    for name, (prefix, seed) in TINY_MODELS.items():
        print(f"{name}: seed {seed}")
        cfg = read_config(name)
        model = build_tiny_model(name, seed)
        state = openclip_state(model)
        if prefix == "tiny":
            save_file(state, OUT_DIR / "tiny_openclip.safetensors", metadata={"format": "pt"})
            tiny_state = state
        else:
            assert all(torch.equal(state[k], tiny_state[k]) for k in state), f"{name} weights differ from bcos-tiny"
        hf = check_transformers_agrees(cfg, model, images, ids)
        if prefix == "tiny":
            hf_state = {k: v.detach().to(torch.float16).contiguous() for k, v in hf.state_dict().items()}
            for k, v in openclip_to_hf(state).items():
                assert torch.equal(hf_state[k].float(), v), f"{k} is not exact in F16"
            save_file(hf_state, OUT_DIR / "tiny_hf.safetensors", metadata={"format": "pt"})
            (OUT_DIR / "tiny_hf_config.json").write_text(hf.config.to_json_string())
        save_file(reference_outputs(model, images, ids), OUT_DIR / f"{prefix}_embeddings.safetensors")


def meta_shapes(module):
    return {k: list(v.shape) for k, v in module.state_dict().items()}


def make_shapes():
    """Names and shapes of real configs in both schemes, built on the meta device (no memory, no weights)."""
    shapes = {}
    for name in REAL_MODELS:
        cfg = read_config(name)
        assert cfg == open_clip.get_model_config(name), f"src/model/configs/{name}.json differs from open_clip's"
        with torch.device("meta"):
            oc = open_clip.create_model(name, pretrained=None, device="meta")
            hf = transformers.CLIPModel(hf_config_from_openclip(cfg))
        oc_shapes, hf_shapes = meta_shapes(oc), meta_shapes(hf)
        mapped = openclip_to_hf({k: torch.empty(v, device="meta") for k, v in oc_shapes.items()})
        assert {k: list(v.shape) for k, v in mapped.items()} == hf_shapes, f"{name}: name map disagrees"
        shapes[name] = {"open_clip": oc_shapes, "hf": hf_shapes}
        print(f"{name}: {len(oc_shapes)} open_clip tensors, {len(hf_shapes)} transformers tensors")
    (OUT_DIR / "shapes.json").write_text(json.dumps(shapes, indent=1) + "\n")


def write_versions():
    versions = {"open_clip_torch": open_clip.__version__, "transformers": transformers.__version__,
                "torch": torch.__version__, "safetensors": safetensors.__version__, "numpy": np.__version__}
    print("versions:", json.dumps(versions))
    (OUT_DIR / "versions.json").write_text(json.dumps(versions, indent=1) + "\n")


def main():
    OUT_DIR.mkdir(parents=True, exist_ok=True)
    register_tiny_configs()
    write_versions()
    images, ids = make_images(), make_text_ids()
    (OUT_DIR / "prompts.txt").write_text("\n".join(PROMPTS) + "\n", encoding="utf-8")
    make_tiny_fixtures(images, ids)
    make_shapes()


if __name__ == "__main__":
    main()
