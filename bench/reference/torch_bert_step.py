# Origin: this project's own PyTorch reference for the BERT-mini step, written for ft and kept
# outside the repository at first. It is copied here unchanged below this header, so that
# bench/onnx-vs-tfjs.mjs runs it from a fresh clone. It needs torch, for example Debian's
# python3-torch (PyTorch 1.13) under /usr/bin/python3. It feeds no padding (mask all ones).
"""Anchor: PyTorch CPU fine-tuning step of a BERT-style classifier, same shapes as ft's benchmark.

Usage: /usr/bin/python3 torch_bert_step.py [hidden layers heads inter seq batch steps]
Prints peak matmul GFLOP/s, forward-only and train-step ms, and samples/s.
"""
import sys, time, torch, torch.nn as nn

torch.manual_seed(0)
torch.set_num_threads(2)
H, L, A, I, S, B, STEPS = (int(x) for x in (sys.argv[1:8] if len(sys.argv) > 7 else [256, 4, 4, 1024, 128, 16, 10]))
V = 30522

class Bert(nn.Module):
    def __init__(self):
        super().__init__()
        self.tok = nn.Embedding(V, H); self.pos = nn.Embedding(512, H); self.typ = nn.Embedding(2, H)
        self.ln = nn.LayerNorm(H, eps=1e-12)
        layer = nn.TransformerEncoderLayer(H, A, I, dropout=0.1, activation="gelu", batch_first=True, norm_first=False)
        self.enc = nn.TransformerEncoder(layer, L)
        self.pool = nn.Linear(H, H); self.cls = nn.Linear(H, 2)
    def forward(self, ids, mask):
        pos = torch.arange(ids.shape[1]).unsqueeze(0)
        x = self.ln(self.tok(ids) + self.pos(pos) + self.typ(torch.zeros_like(ids)))
        x = self.enc(x, src_key_padding_mask=~mask)
        return self.cls(torch.tanh(self.pool(x[:, 0])))

m = Bert()
opt = torch.optim.AdamW(m.parameters(), lr=1e-5, weight_decay=0.01)
ids = torch.randint(0, V, (B, S)); mask = torch.ones(B, S, dtype=torch.bool); y = torch.randint(0, 2, (B,))

a = torch.randn(2048, 2048); b = torch.randn(2048, 2048)
for _ in range(2): a @ b
t = time.perf_counter(); n = 5
for _ in range(n): a @ b
peak = 2 * 2048**3 * n / (time.perf_counter() - t) / 1e9

def step():
    opt.zero_grad(); loss = nn.functional.cross_entropy(m(ids, mask), y); loss.backward(); opt.step()
m.train(); step()
t = time.perf_counter()
for _ in range(STEPS): step()
train_ms = (time.perf_counter() - t) / STEPS * 1000
m.eval()
with torch.no_grad():
    m(ids, mask); t = time.perf_counter()
    for _ in range(STEPS): m(ids, mask)
    fwd_ms = (time.perf_counter() - t) / STEPS * 1000
params = sum(p.numel() for p in m.parameters())
print(f"torch {torch.__version__} threads=2 shape H{H} L{L} A{A} I{I} S{S} B{B} params={params/1e6:.1f}M")
print(f"matmul_peak_gflops={peak:.1f} forward_ms={fwd_ms:.1f} train_step_ms={train_ms:.1f} train_samples_per_s={B/train_ms*1000:.1f} forward_samples_per_s={B/fwd_ms*1000:.1f}")
