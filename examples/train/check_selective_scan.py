"""Checks models.SelectiveScan (the fused C scan, selective_scan.c) against autograd over the plain per-step
recurrence in f64, forward and every input's gradient, for Mamba-1 (per-state decay, B/C shared by all channels)
and Mamba-2 (scalar decay per head, B/C per head) shapes with awkward sizes. Run before training:
  /usr/bin/python3 examples/train/check_selective_scan.py"""
import torch

from models import SelectiveScan


def plain_scan(dt, A, x, B, C):
    b, T, K, P = x.shape
    h = torch.zeros(b, K, P, B.shape[-1], dtype=x.dtype)
    ys = []
    for t in range(T):
        decay = torch.exp(A * dt[:, t, :, None])[:, :, None, :]
        h = decay * h + (dt[:, t, :, None] * x[:, t])[..., None] * B[:, t, :, None, :]
        ys.append((h * C[:, t, :, None, :]).sum(-1))
    return torch.stack(ys, 1)


def main():
    torch.manual_seed(0)
    #         K  P   N  A's shape  B/C rows
    cases = [(5, 1, 3, (5, 3), 1), (3, 4, 19, (3, 1), 3), (7, 2, 16, (7, 16), 1), (2, 33, 5, (2, 1), 2)]
    for K, P, N, a_shape, rows in cases:
        b, T = 2, 11
        dt = (torch.rand(b, T, K) + 0.1).requires_grad_()
        A = (-torch.rand(*a_shape) - 0.2).requires_grad_()
        x, B, C = (torch.randn(*s, requires_grad=True) for s in ((b, T, K, P), (b, T, rows, N), (b, T, rows, N)))
        args = (dt, A, x, B, C)
        y = SelectiveScan.apply(*args)
        gy = torch.randn_like(y)
        grads = torch.autograd.grad(y, args, gy)
        ref_args = [a.detach().double().requires_grad_() for a in args]
        ref = plain_scan(*ref_args)
        ref_grads = torch.autograd.grad(ref, ref_args, gy.double())
        errors = [((y.double() - ref).abs().max() / ref.abs().max()).item()]
        errors += [((g.double() - r).abs().max() / r.abs().max()).item() for g, r in zip(grads, ref_grads)]
        print(f"K={K} P={P} N={N} A{list(a_shape)}: relative error y {errors[0]:.1e}, "
              f"dt/A/x/B/C {' '.join(f'{e:.1e}' for e in errors[1:])}")
        assert max(errors) < 1e-5, errors
    print("SelectiveScan matches the plain recurrence")


if __name__ == "__main__":
    main()
