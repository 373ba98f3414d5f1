"""The export's attachment names (helpdesk/customers/gdpr.py): safe for any unzip tool, unique per message."""
from helpdesk.customers.gdpr import zip_name


def test_attachment_names_lose_folders_and_control_characters():
    taken: set[str] = set()
    assert zip_name(7, "../../etc/passwd", taken) == "attachments/7/passwd"
    assert zip_name(7, "C:\\Users\\zq\\photo.jpg", taken) == "attachments/7/photo.jpg"
    assert zip_name(7, "line\nbreak.txt", taken) == "attachments/7/line_break.txt"
    assert zip_name(7, "", taken) == "attachments/7/attachment"
    assert zip_name(7, "...", taken) == "attachments/7/attachment (2)"


def test_the_same_name_twice_in_a_message_is_numbered():
    taken: set[str] = set()
    names = [zip_name(3, "a.pdf", taken) for _ in range(3)]
    assert names == ["attachments/3/a.pdf", "attachments/3/a (2).pdf", "attachments/3/a (3).pdf"]
    assert zip_name(4, "a.pdf", set()) == "attachments/4/a.pdf"
