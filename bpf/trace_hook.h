/* SPDX-License-Identifier: GPL-2.0 OR BSD-2-Clause */
/*
 * The trace hook of bpf/portgate.bpf.c, included once per context type:
 * PG_TRACE_CTX is struct xdp_md or struct __sk_buff, PG_TRACE_FN(name)
 * names this copy's global functions (pg_trace_xdp, pg_trace_skb, ...).
 * No include guard on purpose.
 */
/*
 * The event's headers into the per-CPU scratch event, from a parse of its
 * own: a global function, so the verifier checks the parser here once.
 */
__attribute__((noinline)) int PG_TRACE_FN(pg_trace_build)(PG_TRACE_CTX *ctx, __u32 meta,
							  __u32 ifindex, __u64 len, __u64 now)
{
	void *data = (void *)(long)ctx->data;
	void *data_end = (void *)(long)ctx->data_end;
	struct pg_trace_event *ev;
	struct pg_pkt pkt = {};
	__u32 zero = 0;

	ev = bpf_map_lookup_elem(&pg_trace_scratch, &zero);
	if (!ev)
		return 0;
	pg_parse(data, data_end, &pkt);
	pg_trace_fill(ev, &pkt, meta & 0xff, (meta >> 8) & 0xff, meta >> 16, ifindex, len, now);
	return 0;
}

/*
 * The trace hook, called from the one exit when pg_ctl.trace is non-zero:
 * for each tracer on, its reasons and filters, its per-CPU token bucket,
 * then one copy of the event into its ring. The event (and the frame copy)
 * is built once, for the first tracer that takes it. A tracer whose lease
 * ran out (killed) is switched off here.
 *
 * A global function: the verifier checks it once on its own, not once per
 * state the parser leaves at the exit. It takes no parser state from the
 * caller (keeping the parse alive to the exit cost every packet 4 ns,
 * measured) and parses the frame again itself, only when a tracer takes
 * the event. meta = reason | dir << 8 | rule << 16.
 */
__attribute__((noinline)) int PG_TRACE_FN(pg_trace)(PG_TRACE_CTX *ctx, __u32 on, __u32 meta,
						    __u32 ifindex, __u64 len)
{
	__u32 reason = meta & 0xff, rule = meta >> 16;
	struct pg_trace_event *ev = NULL;
	bool copied = false;
	__u32 zero = 0;
	__u64 now = 0;
	__u32 s;

	if (reason >= PG_R_COUNT)
		return 0;
	for (s = 0; s < PG_TRACE_SLOTS; s++) {
		struct pg_trace_cfg *cfg;
		struct pg_trace_rl *rl;
		void *ring;
		__u32 slot = s;

		if (!((on >> (8 * s)) & 0xff))
			continue;
		cfg = bpf_map_lookup_elem(&PG_MAP_TRACE_CFG, &slot);
		if (!cfg || !((cfg->reasons >> reason) & 1))
			continue;
		if (!now)
			now = bpf_ktime_get_ns();
		if (now > cfg->lease_ns) {
			/* its tracer is gone: byte s only, the other slots' are theirs */
			if (s < PG_TRACE_SLOTS)
				PG_MAP_CTL.trace[s] = 0;
			continue;
		}
		if (cfg->ifindex && cfg->ifindex != ifindex)
			continue;
		if (cfg->rule_id && cfg->rule_id != rule)
			continue;
		/* the headers are built (a parse) only for --prefix or an event sent */
		if (cfg->af && !ev) {
			PG_TRACE_FN(pg_trace_build)(ctx, meta, ifindex, len, now);
			ev = bpf_map_lookup_elem(&pg_trace_scratch, &zero);
			if (!ev)
				return 0;
		}
		if (cfg->af && ev &&
		    (cfg->af != ev->ip_version ||
		     !(pg_trace_in_prefix(cfg, ev->saddr) || pg_trace_in_prefix(cfg, ev->daddr))))
			continue;
		rl = bpf_map_lookup_elem(&PG_MAP_TRACE_RL, &slot);
		if (!rl || !pg_trace_take(rl, cfg, now))
			continue;
		if (!ev) {
			PG_TRACE_FN(pg_trace_build)(ctx, meta, ifindex, len, now);
			ev = bpf_map_lookup_elem(&pg_trace_scratch, &zero);
			if (!ev)
				return 0;
		}
		if (!copied) {
			__u32 n = len < PG_TRACE_SNAP ? len : PG_TRACE_SNAP;

			copied = true;
			/* 1..PG_TRACE_SNAP as the verifier sees it, n itself for such n */
			n = ((n - 1) & (PG_TRACE_SNAP - 1)) + 1;
			if (len && !pg_load_bytes(ctx, 0, ev->data, n))
				ev->cap_len = n;
		}
		ring = bpf_map_lookup_elem(&PG_MAP_TRACE_RINGS, &slot);
		if (ring && !bpf_ringbuf_output(ring, ev, sizeof(*ev), 0))
			rl->emitted++;
		else
			rl->lost++;
	}
	return 0;
}
