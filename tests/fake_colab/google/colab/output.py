def serve_kernel_port_as_iframe(port, height="720", path="/"):
    print(f"[fake colab] the app on port {port} is shown here")
