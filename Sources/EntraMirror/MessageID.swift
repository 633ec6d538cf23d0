/// Stable journald `MESSAGE_ID`s of the events admins look for; `packaging/systemd/entra-sync.catalog`
/// explains each. Never change a value: admins filter on them (`journalctl MESSAGE_ID=...`).
public enum MessageID {
    public static let runStarted = "4148f68314e743f7a6858ae4a977bedf"
    public static let runSucceeded = "b98fa703d6a7429485db9df3ec48e01a"
    public static let runFailed = "75bceb5de7b14790aa1475c1a9be54ee"
    public static let deletionsBlocked = "4c3a215e0c4d474aa0e8f993329c0796"
    public static let configError = "063fdf9da86c46fd8f2a108bc9c99a8e"
    public static let journalRepaired = "8ac9f41f9bf74ac1bdaec011a9409210"
    public static let scimPushed = "96c054b9a9e94c84bf1306e2129a1d8f"
    public static let scimPushFailed = "96d3b12b1fe745718279798268c527f0"
    public static let scimObjectFailed = "9368194dc23541dabf3ecdc9984f7a2f"
    public static let ldapPushed = "5ee353b38a7448d59c4e8000fcfffbcd"
    public static let ldapPushFailed = "e5a535fe94be4b9b8340e37e7323d1f4"
    public static let ldapObjectFailed = "e417d1ffe69743b49b3e14783dd9f075"
    public static let journalCorrupt = "c029ca9702a040079088261f754dee50"
}
