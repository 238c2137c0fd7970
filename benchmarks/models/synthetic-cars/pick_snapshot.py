import torch, glob
import classifiers
from inpaintkit.models import load_gan
ev = classifiers.load_feature_network('inpaintkit/assets/synthetic-cars-evaluator.pt')
torch.set_num_threads(2)
z = torch.rand(500, 100, generator=torch.Generator().manual_seed(7)) * 2 - 1
for f in sorted(glob.glob('/work/runs/gan-synthetic-cars/snapshots/*.pt'))[-7:]:
    g, d, _ = load_gan(f)
    with torch.no_grad():
        x = g(z); _, logits = ev(x)
        p = logits.softmax(1); py = p.mean(0)
        IS = torch.exp((p * (p.clamp_min(1e-12).log() - py.log())).sum(1).mean())
        dreal = torch.sigmoid(d(x)).mean()
    print(f.split('/')[-1], f"IS {IS:.2f}  conf {p.max(1).values.mean():.3f}  classes {torch.bincount(p.argmax(1), minlength=10).tolist()}")
