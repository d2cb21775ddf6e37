# Generated from exercises/masters/06_placement_and_limitations.ipynb by `make exercises`: edit the master, not this file.
from otter.test_files import test_case

OK_FORMAT = False

name = "ex2_dropout_shift"
points = None

@test_case(points=0, hidden=False)
def test_form(env):
    from bncourse import guards as g
    for name in ['ratio_centered', 'ratio_offset', 'ratio_dense']:
        value = g.answer(env, name)
        if value <= 0:
            raise g.ExerciseFailure(f'`{name}` is a ratio of two variances: it should be a positive number, got {value}')

@test_case(points=1, hidden=True)
def test_centered(env):
    from bncourse import guards as g
    g.check_number(g.answer(env, 'ratio_centered'), 0.5, name='ratio_centered', rtol=0.02, reveal=False, hint='the factor 1 / (1 - p) keeps the mean; compute E[(a m / (1 - p))^2] with m independent of a')

@test_case(points=1, hidden=True)
def test_offset(env):
    from bncourse import guards as g
    g.check_number(g.answer(env, 'ratio_offset'), 4 / 9, name='ratio_offset', rtol=0.02, reveal=False, hint='the variance dropout adds is proportional to E[a^2] = variance + mean^2, not to the variance alone')

@test_case(points=1, hidden=True)
def test_dense(env):
    from bncourse import guards as g
    g.check_number(g.answer(env, 'ratio_dense'), 3 / 7, name='ratio_dense', rtol=0.02, reveal=False, hint="the chapter's formula: Var_train = Var_inference + p / (1 - p) * sum_j w_j^2 E[a_j^2]")

