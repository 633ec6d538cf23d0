# Sourced by the benchmark scripts: bench_size SIZE sets u, g, m (users, groups, memberships).
bench_size() {
    case "$1" in
        S) u=1000; g=100; m=10000 ;;
        M) u=10000; g=1000; m=100000 ;;
        L) u=100000; g=10000; m=1000000 ;;
        XL) u=1000000; g=50000; m=5000000 ;;
        *) echo "unknown size $1" >&2; return 2 ;;
    esac
}
