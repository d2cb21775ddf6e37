# Generated from exercises/masters/02_internal_covariate_shift.ipynb by `make exercises`: edit the master, not this file.
from otter.test_files import test_case

OK_FORMAT = False

name = "ex2_activation_stds"
points = None

@test_case(points=1, hidden=False)
def test_tanh(env):
    import numpy as np
    from bncourse import guards as g
    f = g.function(env, 'activation_stds')
    rng = np.random.default_rng(21)
    x = rng.normal(size=(8, 5))
    kernels = [rng.normal(size=(5, 5)) * np.sqrt(1 / 5) for _ in range(3)]
    case = 'case 1: x of shape (8, 5), three (5, 5) kernels, tanh, no BN'
    got = g.call(f, x, kernels, 'tanh', case=case, name='activation_stds', arg_names=['x', 'kernels', 'activation'])
    g.check_array(got, [0.5807901, 0.32891499, 0.21257064], case=case, name='activation_stds(...)', rtol=1e-06, hint='one number per kernel: the std of h = tanh(h @ W) over all its entries')

@test_case(points=1, hidden=True)
def test_activations(env):
    import numpy as np
    from bncourse import guards as g
    f = g.function(env, 'activation_stds')
    acts = {'tanh': np.tanh, 'sigmoid': lambda z: 1 / (1 + np.exp(-z)), 'relu': lambda z: np.maximum(z, 0)}
    rng = np.random.default_rng(22)
    x = rng.normal(size=(16, 6))
    kernels = [rng.normal(size=(6, 4)), rng.normal(size=(4, 7)) * 0.3, rng.normal(size=(7, 3))]
    for name in ['sigmoid', 'relu']:
        h, want = (x, [])
        for w in kernels:
            h = acts[name](h @ w)
            want.append(h.std())
        case = f'case 2: {name}, kernels of shapes (6, 4), (4, 7), (7, 3), no BN'
        got = g.call(f, x, kernels, name, case=case, name='activation_stds', arg_names=['x', 'kernels', 'activation'])
        g.check_array(got, want, case=case, name='activation_stds(...)', rtol=1e-06)

@test_case(points=1, hidden=True)
def test_batch_norm(env):
    import numpy as np
    import bnlib
    from bncourse import guards as g
    f = g.function(env, 'activation_stds')
    rng = np.random.default_rng(23)
    x = rng.normal(size=(32, 10)) * 3 + 1
    kernels = [rng.normal(size=(10, 10)) * s for s in (0.1, 5.0, 0.5, 2.0)]
    for eps in [0.001, 0.5]:
        h, want = (x, [])
        for w in kernels:
            z = bnlib.batch_norm_forward(h @ w, np.ones(w.shape[1]), np.zeros(w.shape[1]), eps)[0]
            h = np.tanh(z)
            want.append(h.std())
        case = f'case 3: tanh with batch normalization, epsilon={eps}, four kernels of very different scales'
        got = g.call(f, x, kernels, 'tanh', True, eps, case=case, name='activation_stds', arg_names=['x', 'kernels', 'activation', 'batch_norm', 'epsilon'])
        g.check_array(got, want, case=case, name='activation_stds(...)', rtol=1e-06, hint='normalize z = h @ W per column over the batch, with the given epsilon, before the activation')

@test_case(points=1, hidden=True)
def test_pure(env):
    import numpy as np
    from bncourse import guards as g
    f = g.function(env, 'activation_stds')
    rng = np.random.default_rng(24)
    x = rng.normal(size=(5, 3))
    kernels = [rng.normal(size=(3, 3)), rng.normal(size=(3, 2))]
    h, want = (x, [])
    for w in kernels:
        h = np.maximum((h @ w - (h @ w).mean(axis=0)) / np.sqrt((h @ w).var(axis=0) + 0.001), 0)
        want.append(h.std())
    case = 'case 4: x and the kernels are read-only, relu with batch normalization'
    got = g.call(f, x, kernels, 'relu', True, 0.001, case=case, name='activation_stds', arg_names=['x', 'kernels', 'activation', 'batch_norm', 'epsilon'], readonly=True)
    g.check_array(got, want, case=case, name='activation_stds(...)', rtol=1e-06)

