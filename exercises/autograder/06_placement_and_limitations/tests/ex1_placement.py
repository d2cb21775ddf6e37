# Generated from exercises/masters/06_placement_and_limitations.ipynb by `make exercises`: edit the master, not this file.
from otter.test_files import test_case

OK_FORMAT = False

name = "ex1_placement"
points = None

@test_case(points=0, hidden=False)
def test_form(env):
    from bncourse import guards as g
    for name in ['bias_gradient_before', 'output_mean_after', 'output_var_after']:
        g.answer(env, name)
    g.answer(env, 'bias_matters_after', kind='bool')
    if g.answer(env, 'bias_gradient_before') < 0:
        raise g.ExerciseFailure('`bias_gradient_before` is a largest *absolute* value: it cannot be negative')

@test_case(points=1, hidden=True)
def test_bias(env):
    from bncourse import guards as g
    g.check_number(g.answer(env, 'bias_gradient_before'), 0.0, name='bias_gradient_before', atol=1e-06, reveal=False, hint="BN subtracts each feature's batch mean: what happens to a constant added to every example of the batch?")
    if g.answer(env, 'bias_matters_after', kind='bool') is not True:
        raise g.ExerciseFailure('bias_matters_after is not right\nHint: in the *after* block the ReLU sits between the bias and BN; does a ReLU pass a constant shift through unchanged?')

@test_case(points=1, hidden=True)
def test_moments(env):
    from bncourse import guards as g
    g.check_number(g.answer(env, 'output_mean_after'), 0.5, name='output_mean_after', atol=0.001, reveal=False, hint='in training mode the batch mean of x_hat is exactly 0, whatever came before BN')
    g.check_number(g.answer(env, 'output_var_after'), 3.6, name='output_var_after', rtol=0.005, reveal=False, hint='the batch variance of x_hat is sigma^2 / (sigma^2 + epsilon), not exactly 1; gamma scales the variance by gamma^2')

