pbitgen_top.v
