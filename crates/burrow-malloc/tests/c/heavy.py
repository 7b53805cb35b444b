# Allocates heavily: dicts, lists, strings, threads. Deterministic output.
import threading, hashlib

def work(seed, out, idx):
    d = {}
    for i in range(60000):
        k = f"k{(i * seed) % 50021}"
        d[k] = [i, str(i) * (i % 7), {"x": i}]
        if i % 3 == 0:
            d.pop(f"k{(i * 7) % 50021}", None)
    lst = sorted(d.keys())
    h = hashlib.sha256("".join(lst).encode()).hexdigest()
    out[idx] = (len(d), h[:16])

out = [None] * 4
ts = [threading.Thread(target=work, args=(s, out, i)) for i, s in enumerate([3, 5, 7, 11])]
for t in ts: t.start()
for t in ts: t.join()
big = [bytes(1 << 20) for _ in range(64)]
print(out, sum(len(b) for b in big))
s = "".join(str(i) for i in range(200000))
print(len(s), hashlib.md5(s.encode()).hexdigest())
