# bench/lib.sh - sourced by bench.sh and bench_types.sh: reading llama-bench's
# CSV and `ember bench`'s key=value line, and the median of the rounds.

# lb_args_for LLAMA_BENCH PROMPT GEN: sets lb_args and lb_tg. Decode after the
# prompt, as Ember's is: ik_llama.cpp's -gp PP,TG times TG tokens generated
# after a PP-token prompt. Without -gp (mainline), tg runs from an empty cache,
# which flatters the peer by the attention over the prompt.
lb_args_for() {
  lb_args=(-p "$2" -n "$3") lb_tg=tg
  if "$1" --help 2>&1 | grep -q -- '-gp '; then lb_args=(-p "$2" -n 0 -gp "$2,$3") lb_tg=gp; fi
}

# lb_col CSV pp|tg|gp COLUMN: the column of that row of llama-bench's CSV. The
# pp row has n_gen 0; the tg row n_prompt 0, or for -gp both set. Quoted
# fields hold commas (ik_llama.cpp's "ser" is "-1,0"): a CSV reader.
lb_col() { python3 -c '
import csv, sys
want = sys.argv[2]
for row in csv.DictReader(open(sys.argv[1])):
    p, g = row["n_prompt"], row["n_gen"]
    if (want == "pp" and g == "0") or (want == "tg" and p == "0") or (want == "gp" and p != "0" and g != "0"):
        print(row[sys.argv[3]]); break
' "$1" "$2" "$3"; }

# field KEY < LINE: the value of KEY=... in a `bench:` line.
field() { sed -n "s/.*[ :]$1=\([0-9.eE+-]*\).*/\1/p" | head -n1; }

# median < NUMBERS (one a line)
median() { sort -g | awk '{ a[NR] = $1 } END { if (NR % 2) print a[(NR + 1) / 2]; else print (a[NR / 2] + a[NR / 2 + 1]) / 2 }'; }
