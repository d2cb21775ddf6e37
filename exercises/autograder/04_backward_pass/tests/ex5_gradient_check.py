# Generated from exercises/masters/04_backward_pass.ipynb by `make exercises`: edit the master, not this file.
from otter.test_files import test_case

OK_FORMAT = False

name = "ex5_gradient_check"
points = None

@test_case(points=1, hidden=False)
def test_right_and_wrong(env):
    import numpy as np
    import bnlib
    from bncourse import guards as g
    f = g.function(env, 'check_backward_fixed')
    rng = np.random.default_rng(431)
    x = rng.normal(loc=1.0, scale=2.0, size=(6, 3))
    gamma = np.array([1.5, -0.7, 2.0])
    forward = lambda t: bnlib.batch_norm_forward(t, gamma, np.zeros(3))[0]
    right = lambda dout, t: bnlib.batch_norm_backward(dout, bnlib.batch_norm_forward(t, gamma, np.zeros(3))[1])[0]

    def missing_term(dout, t):
        cache = bnlib.batch_norm_forward(t, gamma, np.zeros(3))[1]
        gg = dout * gamma
        return cache.inv_std * (gg - gg.mean(axis=0))
    case = 'case 1: the right backward pass of BN, x of shape (6, 3)'
    err = g.call(f, forward, right, x, case=case, name='check_backward_fixed', arg_names=['forward', 'backward', 'x'])
    err = g.check_number(err, 0.0, case=case, name='the returned error', atol=1e-06, hint='return the relative error as one number')
    case = 'case 2: backward_missing_term, x of shape (6, 3)'
    err = g.call(f, forward, missing_term, x, case=case, name='check_backward_fixed', arg_names=['forward', 'backward', 'x'])
    if not isinstance(err, (int, float, np.floating)) or not err > 0.01:
        raise g.ExerciseFailure(f"{case}: a wrong backward pass must give an error above 1e-2, got {g.describe(err)}\nHint: with an all-ones dout, BN's true input gradient is zero, and so is this wrong one's.")

@test_case(points=1, hidden=True)
def test_other_bugs(env):
    import numpy as np
    import bnlib
    from bncourse import guards as g
    f = g.function(env, 'check_backward_fixed')
    rng = np.random.default_rng(432)
    x = rng.normal(loc=-2.0, scale=3.0, size=(5, 4))
    forward = lambda t: bnlib.batch_norm_forward(t, np.ones(4), np.zeros(4))[0]

    def no_inv_std(dout, t):
        xh = bnlib.batch_norm_forward(t, np.ones(4), np.zeros(4))[1].x_hat
        return dout - dout.mean(axis=0) - xh * (dout * xh).mean(axis=0)

    def wrong_sign(dout, t):
        cache = bnlib.batch_norm_forward(t, np.ones(4), np.zeros(4))[1]
        xh = cache.x_hat
        return cache.inv_std * (dout - dout.mean(axis=0) + xh * (dout * xh).mean(axis=0))
    for label, bad in [('without the factor 1/sigma', no_inv_std), ('with the sign of the last term flipped', wrong_sign)]:
        case = f'case 3: a backward pass {label}, read-only x of shape (5, 4)'
        err = g.call(f, forward, bad, x, case=case, name='check_backward_fixed', arg_names=['forward', 'backward', 'x'], readonly=True)
        if not isinstance(err, (int, float, np.floating)) or not err > 0.01:
            raise g.ExerciseFailure(f'{case}: a wrong backward pass must give an error above 1e-2, got {g.describe(err)}')

@test_case(points=1, hidden=True)
def test_scale_free(env):
    import numpy as np
    import bnlib
    from bncourse import guards as g
    f = g.function(env, 'check_backward_fixed')
    rng = np.random.default_rng(433)
    x = rng.normal(size=(6, 2))
    for scale in [1000000.0, 1e-06]:
        gamma = np.array([scale, 2 * scale])
        forward = lambda t, gamma=gamma: bnlib.batch_norm_forward(t, gamma, np.zeros(2))[0]
        right = lambda dout, t, gamma=gamma: bnlib.batch_norm_backward(dout, bnlib.batch_norm_forward(t, gamma, np.zeros(2))[1])[0]

        def missing_term(dout, t, gamma=gamma):
            cache = bnlib.batch_norm_forward(t, gamma, np.zeros(2))[1]
            gg = dout * gamma
            return cache.inv_std * (gg - gg.mean(axis=0))
        case = f'case 4: the right backward pass, outputs of scale {scale:g}'
        err = g.call(f, forward, right, x, case=case, name='check_backward_fixed', arg_names=['forward', 'backward', 'x'])
        g.check_number(err, 0.0, case=case, name='the returned error', atol=1e-06, hint='an absolute error grows and shrinks with the outputs; a relative one does not')
        case = f'case 5: backward_missing_term, outputs of scale {scale:g}'
        err = g.call(f, forward, missing_term, x, case=case, name='check_backward_fixed', arg_names=['forward', 'backward', 'x'])
        if not isinstance(err, (int, float, np.floating)) or not err > 0.01:
            raise g.ExerciseFailure(f'{case}: a wrong backward pass must give an error above 1e-2, got {g.describe(err)}')

