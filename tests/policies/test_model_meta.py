def test_the_metadata_names_the_teacher_from_the_training_settings():
    from abr.policies.model_meta import teacher_name

    assert teacher_name({}) == "none"
    assert teacher_name({"teacher": "mpc"}) == "mpc"
    assert teacher_name({"teacher": "oracle", "teacher_horizon": 4}) == "oracle:4"
    advantage = {"teacher": "oracle", "teacher_horizon": 4, "teacher_loss": "advantage"}
    assert teacher_name(advantage) == "oracle:4 (advantage)"
