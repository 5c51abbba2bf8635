import os


def mount(mount_point, force_remount=False):
    os.makedirs(mount_point, exist_ok=True)
    link = os.path.join(mount_point, "MyDrive")
    if not os.path.exists(link):
        os.symlink(os.environ["FAKE_DRIVE"], link)
    print(f"Mounted at {mount_point}")
