# Generated from exercises/masters/01_input_normalization.ipynb by `make exercises`: edit the master, not this file.
from otter.test_files import test_case

OK_FORMAT = False

name = "ex3_deployment"
points = None

@test_case(points=1, hidden=False)
def test_fixed_batch(env):
    import numpy as np
    from bncourse import guards as g
    f = g.function(env, 'predict_fixed')
    X_new = np.array([[25.0, 30000.0], [60.0, 95000.0], [42.0, 54000.0]])
    case = 'case 1: three new customers (25, 30000), (60, 95000), (42, 54000)'
    got = g.call(f, X_new, case=case, name='predict_fixed', arg_names=['X_new'])
    g.check_array(got, [1021.574535, 2456.26262243, 1569.39808115], case=case, name='predict_fixed(X_new)', rtol=1e-06, hint='new customers must be scaled with the statistics of the training set')

@test_case(points=1, hidden=True)
def test_single_customers(env):
    import numpy as np
    import bnlib
    from bncourse import guards as g
    f = g.function(env, 'predict_fixed')

    def make_people(n, rng, age_mean=42.0):
        age = np.clip(rng.normal(age_mean, 12.0, size=n), 18, 75).round()
        income = np.clip(12000 + 1000 * age + rng.normal(0, 15000, size=n), 8000, None).round(-2)
        spending = 250 + 6.0 * age + 0.02 * income + rng.normal(0, 150, size=n)
        return (np.column_stack([age, income]), spending)
    X_train, y_train = make_people(300, np.random.default_rng(1))
    scaler = bnlib.StandardScaler().fit(X_train)
    Z = np.column_stack([scaler.transform(X_train), np.ones(len(X_train))])
    theta = np.linalg.lstsq(Z, y_train, rcond=None)[0]
    X_new = np.array([[60.0, 60000.0]] * 50 + [[30.0, 20000.0]])
    expected = np.column_stack([scaler.transform(X_new), np.ones(len(X_new))]) @ theta
    for i in [0, 50]:
        case = f'case 2: one customer on their own, {X_new[i].tolist()}'
        got = g.call(f, X_new[i:i + 1], case=case, name='predict_fixed', arg_names=['X_new'], readonly=True)
        g.check_array(got, expected[i:i + 1], case=case, name='predict_fixed(X_new)', rtol=1e-06)
    case = 'case 3: a batch of 50 customers aged 60 with the same income, and one other'
    got = g.call(f, X_new, case=case, name='predict_fixed', arg_names=['X_new'], readonly=True)
    g.check_array(got, expected, case=case, name='predict_fixed(X_new)', rtol=1e-06)

@test_case(points=1, hidden=True)
def test_single_customer_prediction(env):
    from bncourse import guards as g
    g.check_number(g.answer(env, 'single_customer_prediction'), 1547.1280960428364, name='single_customer_prediction', rtol=1e-06, reveal=False)

