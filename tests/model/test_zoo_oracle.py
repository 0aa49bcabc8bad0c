"""Every shipped network that nn_dataflow 2.1 defines equals its definition, layer by layer
(the MobileNets and the BERT block, which nn_dataflow cannot express, are checked in
test_mobilenets.py and tests/search/test_bert_block.py)."""

import pytest

from nnsolve.formats.network_yaml import load_zoo, zoo_names
from nnsolve.model.network import INPUT
from tests.oracle import import_network, nd, record

ZOO = ["alex_net", "zfnet", "vgg_net", "vgg19_net", "googlenet", "resnet50", "resnet152",
       "mlp_s", "mlp_m", "mlp_l", "lstm_phoneme", "lstm_showtell", "lstm_gnmt"]
#: Shipped networks beyond nn_dataflow's zoo (depthwise convolutions, a transformer block).
BEYOND_NN_DATAFLOW = ["mobilenet_v1", "mobilenet_v2", "bert_block"]

KIND_OF = {nd.FCLayer: "fc", nd.ConvLayer: "conv", nd.PoolingLayer: "pool",
           nd.EltwiseLayer: "eltwise"}


def test_zoo_is_complete():
    assert sorted(zoo_names()) == sorted(ZOO + BEYOND_NN_DATAFLOW)


def _shape(layer):
    """Every shape field nn_dataflow keeps for a layer."""
    fields = dict(kind=KIND_OF[type(layer)], nifm=layer.nifm, nofm=layer.nofm,
                  hofm=layer.hofm, wofm=layer.wofm, htrd=layer.htrd, wtrd=layer.wtrd,
                  hifm=layer.hifm, wifm=layer.wifm, ops=layer.total_ops())
    if isinstance(layer, nd.ConvLayer):
        fields.update(hfil=layer.hfil, wfil=layer.wfil, filter=layer.total_filter_size())
    else:
        fields.update(hfil=layer.hreg, wfil=layer.wreg, nreg=layer.nreg)
    return fields


def _our_shape(layer):
    fields = dict(kind=layer.kind, nifm=layer.in_channels, nofm=layer.out_channels,
                  hofm=layer.out_h, wofm=layer.out_w, htrd=layer.stride_h, wtrd=layer.stride_w,
                  hifm=layer.in_h, wifm=layer.in_w, ops=layer.ops(),
                  hfil=layer.kernel_h, wfil=layer.kernel_w)
    if layer.is_conv:
        fields.update(filter=layer.weight_words())
    else:
        fields.update(nreg=layer.inputs)
    return fields


@pytest.mark.parametrize("name", ZOO)
def test_network_equals_nn_dataflow(name):
    ours = load_zoo(name)
    theirs = import_network(name)
    assert ours.name == theirs.net_name
    assert list(ours.layers) == list(theirs)                    # names and insertion order
    inp = theirs.input_layer()
    assert (ours.input.channels, ours.input.h, ours.input.w) == (inp.nofm, inp.hofm, inp.wofm)
    assert list(ours.external) == list(theirs.ext_layers())
    for ext in theirs.ext_layers():
        e = theirs[ext]
        assert (ours.external[ext].channels, ours.external[ext].h, ours.external[ext].w) == \
            (e.nofm, e.hofm, e.wofm)
    for lname in theirs:
        assert _our_shape(ours[lname]) == _shape(theirs[lname]), lname
        their_prevs = tuple(INPUT if p is None else p for p in theirs.prevs(lname))
        assert ours.prevs[lname] == their_prevs, lname
    assert ours.total_ops() == sum(theirs[n].total_ops() for n in theirs)
    record("zoo: layers (type, every shape field, predecessors, ops)", len(ours))


def test_graph_is_a_dag_with_inputs():
    import networkx as nx

    net = load_zoo("lstm_phoneme")
    g = net.graph
    assert nx.is_directed_acyclic_graph(g)
    assert set(g.predecessors("cell_cout_f")) == {"cell_cinit", "cell_fgate"}
    assert g.in_degree(INPUT) == 0 and g.in_degree("cell_hinit") == 0
    assert g.nodes["We"]["layer"] == net["We"]
