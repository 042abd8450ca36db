"""The NumPy reference of the hardware: graphs, exact enumeration, the float Gibbs sampler, fixed point,
the hardware's random source and the bit-exact golden model (the DTM and its trainer are
:mod:`pbitgen.trainer`)."""
