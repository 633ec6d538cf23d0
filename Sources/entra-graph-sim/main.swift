import Foundation
import Glibc

/// entra-graph-sim: a simulated Microsoft Entra tenant for tests, benchmarks and the demo.
let usage = """
    usage: entra-graph-sim [--host 127.0.0.1] [--port 0] [--port-file PATH] [--tenant-id GUID]
                           [--tenant-domain DOMAIN] [--client-id ID] [--client-secret S] [--users N]
                           [--groups N] [--memberships N] [--nested-groups N] [--seed N]
                           [--page-size 100] [--member-slice 50] [--token-lifetime 3599]
                           [--page-latency MS]   (hold each Graph page MS milliseconds, like Graph's server time)
                           [--latency-sigma X]   (lognormal tail of the time per page; 0: always MS)
                           [--page-member-links N]   (cap member links per delta page, 500 on Graph; 0: none)
                           [--resource-units off|auto|N]   (the RU bucket per app and tenant, RU per 10 s)
                           [--app-resource-units N] [--app-resource-units-window S]   (the per-app bucket across
                                                            tenants, N RU per S s (default 20); off unless given)
                           [--extra-tenants ID,ID,...]   (more tenant ids answered, each with the same directory)
                           [--client-cert CERT.pem --client-public-key PUBLIC.pem]   (accept certificate credentials)
    """

nonisolated(unsafe) var options: [String: String] = [
    "host": "127.0.0.1", "port": "0", "tenant-id": "00000000-0000-4000-8000-000000000001",
    "tenant-domain": "contoso.onmicrosoft.com", "client-id": "11111111-2222-3333-4444-555555555555",
    "client-secret": "sim-secret", "users": "20", "groups": "5", "memberships": "40", "nested-groups": "1",
    "seed": "1", "page-size": "100", "member-slice": "50", "token-lifetime": "3599",
    "page-latency": "0", "latency-sigma": "0", "page-member-links": "0", "resource-units": "off",
    "app-resource-units": "0", "app-resource-units-window": "20", "extra-tenants": "",
]
var arguments = CommandLine.arguments.dropFirst().makeIterator()
while let argument = arguments.next() {
    if argument == "--help" || argument == "-h" {
        print(usage)
        exit(0)
    }
    guard argument.hasPrefix("--"),
          options.keys.contains(String(argument.dropFirst(2))) || ["--port-file", "--client-cert", "--client-public-key"].contains(argument),
          let value = arguments.next() else {
        FileHandle.standardError.write(Data("entra-graph-sim: bad argument \(argument)\n\(usage)\n".utf8))
        exit(2)
    }
    options[String(argument.dropFirst(2))] = value
}
func number(_ key: String) -> Int {
    guard let n = Int(options[key]!) else {
        FileHandle.standardError.write(Data("entra-graph-sim: --\(key) needs a number\n".utf8))
        exit(2)
    }
    return n
}

guard ["off", "auto"].contains(options["resource-units"]!) || Int(options["resource-units"]!) != nil,
      Double(options["latency-sigma"]!) != nil else {
    FileHandle.standardError.write(Data("entra-graph-sim: --resource-units takes off, auto or RU per 10 s; --latency-sigma a number\n".utf8))
    exit(2)
}
guard let appWindow = Double(options["app-resource-units-window"]!), appWindow > 0, number("app-resource-units") >= 0 else {
    FileHandle.standardError.write(Data("entra-graph-sim: --app-resource-units takes RU (0: off), --app-resource-units-window seconds above 0\n".utf8))
    exit(2)
}
let extraTenants = options["extra-tenants"]!.split(separator: ",").map { $0.trimmingCharacters(in: .whitespaces).lowercased() }
let tenant = Tenant(domain: options["tenant-domain"]!, seed: UInt64(number("seed")))
tenant.generate(users: number("users"), groups: number("groups"), memberships: number("memberships"), nested: number("nested-groups"))
var certificate: AssertionVerifier?
if let cert = options["client-cert"] {
    guard let key = options["client-public-key"], let verifier = AssertionVerifier(certificatePath: cert, publicKeyPath: key) else {
        FileHandle.standardError.write(Data("entra-graph-sim: --client-cert needs --client-public-key, both PEM files\n".utf8))
        exit(2)
    }
    certificate = verifier
}
let simulator = Simulator(
    settings: Settings(tenantId: options["tenant-id"]!, domain: options["tenant-domain"]!, clientId: options["client-id"]!,
                       clientSecret: options["client-secret"]!, pageSize: max(1, number("page-size")),
                       memberSlice: max(1, number("member-slice")), tokenLifetime: number("token-lifetime"),
                       pageLatencyMs: max(0, number("page-latency")), latencySigma: max(0, Double(options["latency-sigma"]!) ?? 0),
                       maxLinksPerPage: max(0, number("page-member-links")), resourceUnits: options["resource-units"]!,
                       appResourceUnits: number("app-resource-units"), appResourceUnitsWindow: appWindow,
                       extraTenants: Set(extraTenants), certificate: certificate),
    tenant: tenant)
simulator.listIndex.warm(tenant)  // before the port is announced: nothing else runs yet
signal(SIGPIPE, SIG_IGN)
let server: HTTPServer
do {
    server = try HTTPServer(host: options["host"]!, port: number("port")) { simulator.handle($0) }
} catch {
    FileHandle.standardError.write(Data("entra-graph-sim: \(error.localizedDescription)\n".utf8))
    exit(1)
}
print("entra-graph-sim listening on http://\(options["host"]!):\(server.port)")
FileHandle.standardOutput.synchronizeFile()
if let portFile = options["port-file"] {
    try? "\(server.port)\n".write(toFile: portFile + ".tmp", atomically: false, encoding: .utf8)
    rename(portFile + ".tmp", portFile)
}
let acceptThread = Thread { server.run() }
acceptThread.start()
for sig in [SIGTERM, SIGINT] { signal(sig, SIG_IGN) }
let term = DispatchSource.makeSignalSource(signal: SIGTERM, queue: .main)
term.setEventHandler { exit(0) }
term.activate()
let int = DispatchSource.makeSignalSource(signal: SIGINT, queue: .main)
int.setEventHandler { exit(0) }
int.activate()
dispatchMain()
