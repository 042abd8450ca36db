"""The NumPy reference: graphs, exact enumeration, the float Gibbs sampler, fixed point, the hardware's
random source and the bit-exact golden model (later: the DTM trainer)."""
