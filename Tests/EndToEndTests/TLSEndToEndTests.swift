import Foundation
import Testing

private let openssl = ["/usr/bin/openssl", "/usr/local/bin/openssl"].first { FileManager.default.isExecutableFile(atPath: $0) }

/// Certificate verification against a real TLS server with an untrusted certificate.
@Suite("TLS end to end")
struct TLSEndToEndTests {
    /// `openssl s_server` on a loopback port with a fresh self-signed certificate for 127.0.0.1.
    final class TLSServer {
        let process = Process()
        let directory = Harness.makeTempDirectory()
        var port = 0
        var certificate: String { directory + "/cert.pem" }

        init(openssl: String) throws {
            let made = try Harness.run(openssl, ["req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "2",
                                                 "-keyout", directory + "/key.pem", "-out", certificate,
                                                 "-subj", "/CN=127.0.0.1", "-addext", "subjectAltName=IP:127.0.0.1"])
            guard made.status == 0 else { throw HarnessError("openssl req failed: \(made.stderr)") }
            let log = directory + "/server.log"
            FileManager.default.createFile(atPath: log, contents: nil)
            process.executableURL = URL(fileURLWithPath: openssl)
            process.arguments = ["s_server", "-www", "-accept", "127.0.0.1:0", "-cert", certificate, "-key", directory + "/key.pem"]
            process.standardOutput = FileHandle(forWritingAtPath: log)
            process.standardError = FileHandle(forWritingAtPath: log)
            process.standardInput = Pipe()
            try process.run()
            try Harness.waitUntil("openssl s_server to listen") {
                let text = (try? String(contentsOfFile: log, encoding: .utf8)) ?? ""
                guard let range = text.range(of: "ACCEPT 127.0.0.1:") else { return false }
                port = Int(text[range.upperBound...].prefix { $0.isNumber }) ?? 0
                return port > 0
            }
        }

        deinit {
            if process.isRunning {
                kill(process.processIdentifier, SIGKILL)
                process.waitUntilExit()
            }
            try? FileManager.default.removeItem(atPath: directory)
        }
    }

    func writeProfile(_ daemon: DaemonHarness, port: Int, extra: String = "") throws {
        try "not-used-secret".write(toFile: daemon.configDirectory + "/contoso.secret", atomically: true, encoding: .utf8)
        chmod(daemon.configDirectory + "/contoso.secret", 0o600)
        try daemon.write("contoso.conf", """
            [Tenant]
            TenantId=00000000-0000-4000-8000-000000000001
            ClientId=11111111-2222-3333-4444-555555555555
            ClientSecretFile=\(daemon.configDirectory)/contoso.secret
            LoginEndpoint=https://127.0.0.1:\(port)
            GraphEndpoint=https://127.0.0.1:\(port)
            \(extra)
            [Sync]
            Interval=1h
            RandomizedDelay=0
            RequestTimeout=2s
            MaxAttempts=1
            """)
    }

    @Test("an https endpoint with an untrusted certificate fails with a TLS error and the CAFile= hint; trusting it with CAFile= gets past TLS",
          .enabled(if: openssl != nil, "needs openssl (apt-get install openssl) to make and serve a certificate"))
    func untrustedCertificate() throws {
        let server = try TLSServer(openssl: openssl!)
        let daemon = DaemonHarness()
        try writeProfile(daemon, port: server.port)
        try daemon.start()
        let status = try daemon.status()["contoso"]!
        #expect(status["state"] as? String == "failed")
        let lastRun = status["lastRun"] as? [String: Any] ?? [:]
        let error = lastRun["error"] as? String ?? ""
        let hint = lastRun["hint"] as? String ?? ""
        #expect(error.lowercased().contains("certificate"), "error: \(error)")
        #expect(hint.contains("CAFile="), "hint: \(hint)")
        let human = try daemon.ctl(["status", "contoso"])
        #expect(human.stdout.contains("CAFile="), "\(human.stdout)")
        #expect(daemon.log.lowercased().contains("certificate"))

        let check = try Harness.run(Harness.binary("entra-syncctl"), ["check", "contoso", "--config-dir", daemon.configDirectory])
        #expect(check.status != 0)
        #expect(check.stdout.contains("CAFile="), "\(check.stdout)")

        // The same server, trusted: TLS passes (s_server then does not speak the token protocol).
        try writeProfile(daemon, port: server.port, extra: "CAFile=\(server.certificate)")
        daemon.kill(SIGHUP)
        try Harness.waitUntil("the reload") { daemon.log.contains("reloaded") }
        let run = try daemon.ctl(["run-now", "contoso", "--wait"])
        #expect(run.status != 0)
        let trusted = (try daemon.status()["contoso"]?["lastRun"] as? [String: Any])?["error"] as? String ?? ""
        #expect(!trusted.isEmpty && !trusted.lowercased().contains("certificate"), "error with CAFile=: \(trusted)")
        print("untrusted: \(error) — \(hint)\nwith CAFile=: \(trusted)")
    }
}
